// ChannelSecurity: how accelctl and acceld dial a coordinator or an agent. Unix sockets are plain
// (the server identifies the caller by its kernel credentials); TCP uses TLS once a CA is given
// (verifying the server against the cluster CA, presenting a client certificate when one is given,
// and a bearer token when one is given), and plaintext otherwise (loopback only: the server refuses
// plaintext from anywhere else).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace accel::wire {

/// Largest message a daemon or accelctl accepts: a job spec is at most ~3 MiB (argv 1 MiB, env
/// 1 MiB, config 1 MiB); anything above is refused by gRPC before it is parsed.
inline constexpr int kMaxMessageBytes = 8 << 20;

struct ChannelSecurity {
  std::string ca_pem;    // the cluster CA: TLS on TCP when set
  std::string cert_pem;  // client certificate chain (mutual TLS)
  std::string key_pem;
  std::string token;     // bearer token (sent only over TLS)

  bool tls() const { return !ca_pem.empty(); }
};

struct ChannelSecurityFiles {
  std::string ca;
  std::string cert;
  std::string key;
  std::string token;  // a file whose first line is the token
};

/// Reads the files that are set. NotFound / InvalidArgument naming the file; a certificate without
/// its key (or the reverse), or a token without a CA, is InvalidArgument.
absl::StatusOr<ChannelSecurity> LoadChannelSecurity(const ChannelSecurityFiles& files);

/// The credentials to dial `address` (unix:PATH or HOST:PORT) with.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(const std::string& address,
                                                                 const ChannelSecurity& security);

/// A channel to `address` with these credentials, `args` plus the message size limit.
std::shared_ptr<grpc::Channel> CreateSecureChannel(const std::string& address, const ChannelSecurity& security,
                                                   grpc::ChannelArguments args = {});

}  // namespace accel::wire
