#include "agent/static_rendezvous.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace accel::agent {
namespace {

using Json = nlohmann::json;
constexpr size_t kMaxLineBytes = 64 * 1024;

absl::Status ErrnoStatus(std::string_view what) {
  return absl::UnavailableError(common::StrCat(what, ": ", std::strerror(errno)));
}

// Writes the whole buffer (the sockets are blocking); false when the peer is gone.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

std::string Line(const Json& message) { return message.dump() + "\n"; }

// Appends what `fd` has to `buffer` and hands out complete lines. False on EOF, error or an oversized
// line.
bool ReadLines(int fd, std::string& buffer, const std::function<void(std::string_view)>& on_line) {
  char chunk[4096];
  const ssize_t got = ::recv(fd, chunk, sizeof(chunk), 0);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (got <= 0) return false;
  buffer.append(chunk, static_cast<size_t>(got));
  size_t start = 0;
  for (size_t newline; (newline = buffer.find('\n', start)) != std::string::npos; start = newline + 1) {
    on_line(std::string_view(buffer).substr(start, newline - start));
  }
  buffer.erase(0, start);
  return buffer.size() <= kMaxLineBytes;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Server

class RendezvousServer::State {
 public:
  State(int num_machines, int max_restarts) : num_machines_(num_machines), max_restarts_(max_restarts) {}

  struct Connection {
    common::UniqueFd fd;
    std::string buffer;
    int machine_rank = -1;
    int local_world_size = 0;
    std::string host;
  };

  std::vector<std::unique_ptr<Connection>> connections;

  /// Handles one line from `connection`; false closes it.
  bool OnLine(Connection& connection, std::string_view text) {
    Json message = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!message.is_object() || !message.contains("type") || !message["type"].is_string()) return false;
    const std::string type = message["type"];
    if (type == "hello") return OnHello(connection, message);
    if (connection.machine_rank < 0) return false;  // everything else needs a hello first
    const int attempt = message.value("attempt", -1);
    if (type == "ready") {
      OnReady(connection, attempt);
    } else if (type == "failed") {
      OnFailed(connection, attempt, message.value("description", std::string("workers failed")),
               message.value("exit_code", 1));
    } else if (type == "done") {
      OnDone(connection, attempt);
    } else {
      return false;
    }
    return true;
  }

  /// A connection closed (EOF, error or protocol violation).
  void OnClosed(Connection& connection) {
    if (connection.machine_rank < 0) return;
    auto it = members_.find(connection.machine_rank);
    if (it == members_.end() || it->second != &connection) return;
    members_.erase(it);
    if (!finished_ && !aborted_) {
      Abort(common::StrCat("lost machine ", connection.machine_rank, " (", connection.host,
                           "): its launcher stopped or its connection broke"),
            1);
    }
    BroadcastMembers();
  }

 private:
  bool OnHello(Connection& connection, const Json& message) {
    const int rank = message.value("machine_rank", -1);
    const int local_world_size = message.value("local_world_size", 0);
    const std::string run_id = message.value("run_id", std::string());
    std::string error;
    if (rank < 0 || rank >= num_machines_) {
      error = common::StrCat("machine_rank ", rank, " is outside 0..", num_machines_ - 1);
    } else if (members_.contains(rank)) {
      error = common::StrCat("machine_rank ", rank, " has already joined (from ", members_[rank]->host, ")");
    } else if (local_world_size < 1) {
      error = "local_world_size must be >= 1";
    } else if (!run_id_.empty() && run_id != run_id_) {
      error = common::StrCat("run id '", run_id, "' does not match the job's '", run_id_, "'");
    } else if (aborted_) {
      error = abort_reason_;
    }
    if (!error.empty()) {
      WriteAll(connection.fd.get(), Line({{"type", "error"}, {"message", error}}));
      return false;
    }
    run_id_ = run_id;
    connection.machine_rank = rank;
    connection.local_world_size = local_world_size;
    connection.host = message.value("host", std::string("?"));
    members_[rank] = &connection;
    BroadcastMembers();
    return true;
  }

  void OnReady(Connection& connection, int attempt) {
    if (aborted_) {
      Send(connection, {{"type", "abort"}, {"reason", abort_reason_}, {"exit_code", abort_exit_code_}});
      return;
    }
    if (attempt != attempt_) return;  // stale: a restart message for the newer attempt is on its way
    ready_.insert(connection.machine_rank);
    if (static_cast<int>(ready_.size()) < num_machines_ || static_cast<int>(members_.size()) < num_machines_) return;
    // Contiguous blocks of global ranks in machine-rank order.
    int world_size = 0;
    for (const auto& [rank, member] : members_) world_size += member->local_world_size;
    int base_rank = 0;
    for (const auto& [rank, member] : members_) {
      Send(*member, {{"type", "start"},
                     {"attempt", attempt_},
                     {"base_rank", base_rank},
                     {"world_size", world_size},
                     {"group_rank", rank},
                     {"group_world_size", num_machines_}});
      base_rank += member->local_world_size;
    }
    ready_.clear();
  }

  void OnFailed(const Connection& connection, int attempt, const std::string& description, int exit_code) {
    if (aborted_ || finished_ || attempt != attempt_) return;  // already handled for this attempt
    const std::string reason = common::StrCat("machine ", connection.machine_rank, " (", connection.host,
                                              ") failed: ", description);
    if (attempt_ >= max_restarts_) {
      Abort(reason, exit_code);
      return;
    }
    ++attempt_;
    ready_.clear();
    done_.clear();
    Broadcast({{"type", "restart"}, {"attempt", attempt_}, {"reason", reason}});
  }

  void OnDone(const Connection& connection, int attempt) {
    if (aborted_ || attempt != attempt_) return;
    done_.insert(connection.machine_rank);
    if (static_cast<int>(done_.size()) == num_machines_) {
      finished_ = true;
      Broadcast({{"type", "finish"}});
    }
  }

  void Abort(const std::string& reason, int exit_code) {
    aborted_ = true;
    abort_reason_ = reason;
    abort_exit_code_ = exit_code;
    Broadcast({{"type", "abort"}, {"reason", reason}, {"exit_code", exit_code}});
  }

  void BroadcastMembers() {
    Json joined = Json::array();
    for (const auto& [rank, member] : members_) joined.push_back(rank);
    Broadcast({{"type", "members"}, {"joined", joined}});
  }

  void Broadcast(const Json& message) {
    for (const auto& [rank, member] : members_) Send(*member, message);
  }

  // A failed write shows up as EOF on the next read of that connection, which then closes it.
  static void Send(const Connection& connection, const Json& message) {
    WriteAll(connection.fd.get(), Line(message));
  }

  const int num_machines_;
  const int max_restarts_;
  int attempt_ = 0;
  std::string run_id_;
  std::map<int, Connection*> members_;
  std::set<int> ready_;
  std::set<int> done_;
  bool finished_ = false;
  bool aborted_ = false;
  std::string abort_reason_;
  int abort_exit_code_ = 1;
};

absl::StatusOr<std::unique_ptr<RendezvousServer>> RendezvousServer::Start(const std::string& bind_address, int port,
                                                                          int num_machines, int max_restarts) {
  common::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return ErrnoStatus("rendezvous socket");
  const int one = 1;
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, bind_address.c_str(), &address.sin_addr) != 1) {
    return absl::InvalidArgumentError(common::StrCat("rendezvous bind address '", bind_address, "' is not an IPv4 address"));
  }
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return absl::FailedPreconditionError(common::StrCat("cannot listen for the rendezvous on ", bind_address, ":",
                                                        port, ": ", std::strerror(errno),
                                                        " (choose another port with --rdzv_conf rdzv_port=N)"));
  }
  if (::listen(listener.get(), 1024) != 0) return ErrnoStatus("rendezvous listen");
  socklen_t length = sizeof(address);
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length);
  common::UniqueFd wakeup(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wakeup) return ErrnoStatus("rendezvous eventfd");
  auto server = std::unique_ptr<RendezvousServer>(new RendezvousServer(
      std::move(listener), std::move(wakeup), ntohs(address.sin_port), std::make_unique<State>(num_machines, max_restarts)));
  server->thread_ = std::thread([raw = server.get()] { raw->Serve(); });
  return server;
}

RendezvousServer::RendezvousServer(common::UniqueFd listener, common::UniqueFd wakeup, int port,
                                   std::unique_ptr<State> state)
    : listener_(std::move(listener)), wakeup_(std::move(wakeup)), port_(port), state_(std::move(state)) {}

RendezvousServer::~RendezvousServer() {
  const uint64_t one = 1;
  (void)!::write(wakeup_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void RendezvousServer::Serve() {
  // Bounds the connections an unauthenticated peer can hold open.
  constexpr size_t kMaxConnections = 4096;
  while (true) {
    std::vector<pollfd> fds = {{listener_.get(), POLLIN, 0}, {wakeup_.get(), POLLIN, 0}};
    for (const auto& connection : state_->connections) fds.push_back({connection->fd.get(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    // Connections first, so that a close is seen before a new hello from the same rank.
    std::vector<State::Connection*> closed;
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      State::Connection& connection = *state_->connections[i - 2];
      bool violated = false;
      const bool open = ReadLines(connection.fd.get(), connection.buffer, [&](std::string_view line) {
        if (!violated && !state_->OnLine(connection, line)) violated = true;
      });
      if (!open || violated) closed.push_back(&connection);
    }
    for (State::Connection* connection : closed) {
      state_->OnClosed(*connection);
      std::erase_if(state_->connections, [&](const auto& owned) { return owned.get() == connection; });
    }
    if ((fds[0].revents & POLLIN) != 0) {
      common::UniqueFd accepted(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (accepted && state_->connections.size() < kMaxConnections) {
        const int one = 1;
        ::setsockopt(accepted.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        auto connection = std::make_unique<State::Connection>();
        connection->fd = std::move(accepted);
        state_->connections.push_back(std::move(connection));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Client

absl::StatusOr<std::unique_ptr<RendezvousClient>> RendezvousClient::Connect(const RendezvousClientOptions& options,
                                                                            Callbacks callbacks, absl::Time deadline,
                                                                            const std::function<bool()>& cancelled) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  const std::string port = std::to_string(options.server_port);
  std::string last_error = "not tried";
  while (true) {
    addrinfo* result = nullptr;
    const int lookup = ::getaddrinfo(options.server_host.c_str(), port.c_str(), &hints, &result);
    if (lookup == 0) {
      for (addrinfo* entry = result; entry != nullptr; entry = entry->ai_next) {
        common::UniqueFd fd(::socket(entry->ai_family, entry->ai_socktype | SOCK_CLOEXEC, entry->ai_protocol));
        if (!fd) continue;
        if (::connect(fd.get(), entry->ai_addr, entry->ai_addrlen) == 0) {
          ::freeaddrinfo(result);
          const int one = 1;
          ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          auto client = std::unique_ptr<RendezvousClient>(new RendezvousClient(std::move(fd), options, std::move(callbacks)));
          client->Send(Line({{"type", "hello"},
                             {"machine_rank", options.machine_rank},
                             {"local_world_size", options.local_world_size},
                             {"host", options.node_name},
                             {"run_id", options.run_id}}));
          client->reader_ = std::thread([raw = client.get()] { raw->ReadLoop(); });
          return client;
        }
        last_error = std::strerror(errno);
      }
      ::freeaddrinfo(result);
    } else {
      last_error = ::gai_strerror(lookup);
    }
    if (cancelled && cancelled()) return absl::CancelledError("interrupted while connecting to the rendezvous");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(common::StrCat("could not reach the rendezvous of machine rank 0 at ",
                                                        options.server_host, ":", options.server_port, " (",
                                                        last_error, ")"));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

RendezvousClient::RendezvousClient(common::UniqueFd socket, RendezvousClientOptions options, Callbacks callbacks)
    : options_(std::move(options)), callbacks_(std::move(callbacks)), socket_(std::move(socket)) {}

RendezvousClient::~RendezvousClient() {
  {
    absl::MutexLock lock(&mu_);
    finished_ = true;  // a close we cause is not a lost server
  }
  ::shutdown(socket_.get(), SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
}

void RendezvousClient::Send(const std::string& line) {
  absl::MutexLock lock(&send_mu_);
  WriteAll(socket_.get(), line);
}

void RendezvousClient::ReadLoop() {
  std::string buffer;
  while (true) {
    const bool open = ReadLines(socket_.get(), buffer, [&](std::string_view text) {
      const Json message = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!message.is_object()) return;
      const std::string type = message.value("type", std::string());
      if (type == "members") {
        absl::MutexLock lock(&mu_);
        joined_ = message.value("joined", std::vector<int>{});
      } else if (type == "start") {
        absl::MutexLock lock(&mu_);
        started_ = RendezvousRound{.attempt = message.value("attempt", 0),
                                   .layout = GroupLayout{.base_rank = message.value("base_rank", 0),
                                                         .world_size = message.value("world_size", 0),
                                                         .group_rank = message.value("group_rank", 0),
                                                         .group_world_size = message.value("group_world_size", 0)}};
      } else if (type == "restart") {
        if (callbacks_.on_restart) callbacks_.on_restart(message.value("attempt", 0), message.value("reason", std::string()));
      } else if (type == "finish") {
        absl::MutexLock lock(&mu_);
        finished_ = true;
      } else if (type == "abort" || type == "error") {
        const std::string reason = message.value("reason", message.value("message", std::string("aborted")));
        const int exit_code = message.value("exit_code", 1);
        {
          absl::MutexLock lock(&mu_);
          if (aborted_) return;
          aborted_ = reason;
        }
        if (callbacks_.on_abort) callbacks_.on_abort(reason, exit_code);
      }
    });
    changed_.SignalAll();
    if (!open) break;
  }
  std::string reason;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || aborted_) return;
    reason = common::StrCat("lost the connection to the rendezvous at ", options_.server_host, ":", options_.server_port,
                            " (machine rank 0 stopped)");
    aborted_ = reason;
    changed_.SignalAll();
  }
  if (callbacks_.on_abort) callbacks_.on_abort(reason, 1);
}

absl::StatusOr<RendezvousRound> RendezvousClient::Join(int attempt, absl::Time deadline,
                                                       const std::function<bool()>& cancelled) {
  Send(Line({{"type", "ready"}, {"attempt", attempt}}));
  absl::MutexLock lock(&mu_);
  while (true) {
    if (aborted_) return absl::AbortedError(*aborted_);
    if (started_ && started_->attempt == attempt) return *started_;
    if (cancelled && cancelled()) return absl::CancelledError("interrupted while waiting for the other machines");
    if (absl::Now() >= deadline) {
      std::vector<int> missing;
      for (int rank = 0; rank < options_.num_machines; ++rank) {
        if (std::find(joined_.begin(), joined_.end(), rank) == joined_.end()) missing.push_back(rank);
      }
      return absl::DeadlineExceededError(
          missing.empty()
              ? common::StrCat("the machines did not all become ready for attempt ", attempt, " in time")
              : common::StrCat("rendezvous timed out: machine rank(s) ", common::StrJoin(missing, ", "), " of ",
                               options_.num_machines, " never joined ", options_.server_host, ":",
                               options_.server_port));
    }
    changed_.WaitWithTimeout(&mu_, absl::Milliseconds(20));
  }
}

void RendezvousClient::ReportFailure(int attempt, const std::string& description, int exit_code) {
  Send(Line({{"type", "failed"}, {"attempt", attempt}, {"description", description}, {"exit_code", exit_code}}));
}

void RendezvousClient::ReportSuccess(int attempt) { Send(Line({{"type", "done"}, {"attempt", attempt}})); }

absl::Status RendezvousClient::WaitForFinish(absl::Time deadline, const std::function<bool()>& cancelled) {
  absl::MutexLock lock(&mu_);
  while (true) {
    if (aborted_) return absl::AbortedError(*aborted_);
    if (finished_) return absl::OkStatus();
    if (cancelled && cancelled()) return absl::CancelledError("interrupted while waiting for the other machines");
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("the other machines did not finish in time");
    changed_.WaitWithTimeout(&mu_, absl::Milliseconds(20));
  }
}

}  // namespace accel::agent
