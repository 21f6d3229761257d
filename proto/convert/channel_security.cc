#include "proto/convert/channel_security.h"

#include <fstream>
#include <sstream>

#include "common/strings.h"

namespace accel::wire {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(common::StrCat(what, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().empty()) return absl::InvalidArgumentError(common::StrCat(what, ": ", path, " is empty"));
  return text.str();
}

}  // namespace

absl::StatusOr<ChannelSecurity> LoadChannelSecurity(const ChannelSecurityFiles& files) {
  ChannelSecurity security;
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError("tls_cert and tls_key: give both or neither");
  }
  if (!files.ca.empty()) {
    auto ca = ReadFile(files.ca, "tls_ca");
    if (!ca.ok()) return ca.status();
    security.ca_pem = *std::move(ca);
  }
  if (!files.cert.empty()) {
    auto cert = ReadFile(files.cert, "tls_cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(files.key, "tls_key");
    if (!key.ok()) return key.status();
    security.cert_pem = *std::move(cert);
    security.key_pem = *std::move(key);
  }
  if (!files.token.empty()) {
    auto token = ReadFile(files.token, "token_file");
    if (!token.ok()) return token.status();
    std::string line = token->substr(0, token->find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) return absl::InvalidArgumentError(common::StrCat("token_file: ", files.token, " has no token"));
    security.token = std::move(line);
  }
  // (A certificate without a CA is fine: a daemon serves TLS with it; its own calls then stay plain.)
  if (!security.token.empty() && !security.tls()) {
    return absl::InvalidArgumentError("a token is sent only over TLS: give tls_ca (the cluster CA) as well");
  }
  return security;
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(const std::string& address,
                                                                 const ChannelSecurity& security) {
  if (address.starts_with("unix:") || address.starts_with("unix-abstract:") || !security.tls()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = security.ca_pem;
  options.pem_cert_chain = security.cert_pem;
  options.pem_private_key = security.key_pem;
  auto credentials = grpc::SslCredentials(options);
  if (!security.token.empty()) {
    credentials = grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(security.token));
  }
  return credentials;
}

std::shared_ptr<grpc::Channel> CreateSecureChannel(const std::string& address, const ChannelSecurity& security,
                                                   grpc::ChannelArguments args) {
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  return grpc::CreateCustomChannel(address, ChannelCredentialsFor(address, security), args);
}

}  // namespace accel::wire
