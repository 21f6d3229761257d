#include "daemon/coordinator/coordinator.h"

#include <string.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/strings.h"
#include "spdlog/spdlog.h"

namespace accel::daemon {
namespace {

// The job's world size: the sum of every node's local world size; nullopt when there are no nodes or
// while one has not reported its own (size <= 0).
template <typename Nodes, typename LocalSizeOf>
std::optional<int> SumOfLocalSizes(const Nodes& nodes, LocalSizeOf local_size_of) {
  if (std::empty(nodes)) return std::nullopt;
  int world = 0;
  for (const auto& node : nodes) {
    const int size = local_size_of(node);
    if (size <= 0) return std::nullopt;
    world += size;
  }
  return world;
}

using common::JobEvent;
using common::JobState;

constexpr int kCancelExitCode = 130;  // 128 + SIGINT: what a shell reports for Ctrl-C.
constexpr size_t kMaxNamesInMessage = 8;

std::string Seconds(absl::Duration d) {
  const double s = absl::ToDoubleSeconds(d);
  if (std::floor(s) == s) return common::StrCat(static_cast<int64_t>(s), " s");
  return fmt::format("{:.1f} s", s);
}

std::string Plural(size_t n, std::string_view word) { return common::StrCat(n, " ", word, n == 1 ? "" : "s"); }

// "a, b, c" or "a, b, ... (+30 more)" for long lists.
std::string NameList(const std::vector<std::string>& names) {
  if (names.size() <= kMaxNamesInMessage) return common::StrJoin(names, ", ");
  std::vector<std::string> head(names.begin(), names.begin() + kMaxNamesInMessage);
  return common::StrCat(common::StrJoin(head, ", "), ", ... (+", names.size() - kMaxNamesInMessage, " more)");
}

std::string SignalName(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? common::StrCat("SIG", abbrev) : common::StrCat("signal ", signal);
}

std::string FirstLine(const std::string& text, size_t limit = 200) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > limit) line = line.substr(0, limit) + "...";
  return line;
}

std::string DescribeFailure(const std::string& node, const std::vector<common::RankExit>& exits,
                            const std::string& message) {
  if (!exits.empty()) {
    const common::RankExit& e = exits.front();
    std::string what = e.signal != 0 ? common::StrCat("was killed by ", SignalName(e.signal))
                                     : common::StrCat("exited with code ", e.exit_code);
    std::string out = common::StrCat("rank ", e.rank, " (local rank ", e.local_rank, " on node ",
                                     e.node.empty() ? node : e.node, ") ", what);
    if (!e.message.empty()) out += common::StrCat(": ", FirstLine(e.message));
    return out;
  }
  if (!message.empty()) return common::StrCat("the workers on node ", node, " failed: ", FirstLine(message));
  return common::StrCat("the workers on node ", node, " failed");
}

}  // namespace

absl::Status ValidateCoordinatorOptions(const CoordinatorOptions& options) {
  if (options.heartbeat_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("heartbeat_interval: must be > 0");
  }
  if (options.heartbeat_timeout <= options.heartbeat_interval) {
    return absl::InvalidArgumentError(common::StrCat("heartbeat_timeout ", Seconds(options.heartbeat_timeout),
                                                     ": must be longer than heartbeat_interval ",
                                                     Seconds(options.heartbeat_interval)));
  }
  if (options.join_timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("join_timeout: must be > 0");
  if (options.last_call < absl::ZeroDuration()) return absl::InvalidArgumentError("last_call: must be >= 0");
  if (options.master_port_min < 1 || options.master_port_max > 65535 ||
      options.master_port_min > options.master_port_max) {
    return absl::InvalidArgumentError(common::StrCat("master port range ", options.master_port_min, "-",
                                                     options.master_port_max, ": need 1 <= min <= max <= 65535"));
  }
  if (options.watch_ready_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("watch_ready_timeout: must be > 0");
  }
  if (options.log_ring_lines == 0) return absl::InvalidArgumentError("log_ring_lines: must be >= 1");
  return absl::OkStatus();
}

Coordinator::Coordinator(common::EventLoop& loop, Clock& clock, AgentClient& agents, JobStore& store,
                         CoordinatorOptions options)
    : loop_(loop),
      clock_(clock),
      agents_(agents),
      store_(store),
      options_(std::move(options)),
      // Start where the previous coordinator is unlikely to have been, so a restart does not hand out
      // the master ports of jobs it re-attaches to.
      ports_(options_.master_port_min, options_.master_port_max,
             static_cast<int>(absl::ToUnixSeconds(clock.Now()) % 100000)) {}

Coordinator::~Coordinator() { Shutdown(); }

template <typename... Args, typename Fn>
std::function<void(Args...)> Coordinator::OnLoop(Fn fn) {
  return [loop = &loop_, weak = std::weak_ptr<int>(alive_), fn = std::move(fn)](Args... args) {
    loop->Post([weak, fn, ... args = std::move(args)]() mutable {
      if (weak.expired()) return;
      fn(std::move(args)...);
    });
  };
}

int64_t Coordinator::NowMs() const { return absl::ToUnixMillis(clock_.Now()); }

Coordinator::Job* Coordinator::FindJob(const std::string& job_id) {
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : &it->second;
}

const Coordinator::Job* Coordinator::FindJob(const std::string& job_id) const {
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : &it->second;
}

Coordinator::Member* Coordinator::FindMember(Job& job, const std::string& node) {
  for (auto& member : job.members) {
    if (member.node == node) return &member;
  }
  return nullptr;
}

int Coordinator::NodesNeeded(const Job& job) const {
  return job.record.spec.nodes.empty() ? job.record.spec.min_nodes : static_cast<int>(job.record.spec.nodes.size());
}

// --- Start / Shutdown ---------------------------------------------------------------------------

absl::Status Coordinator::Start() {
  auto loaded = store_.LoadAll();
  if (!loaded.ok()) return loaded.status();
  bool reattaching = false;
  for (auto& record : *loaded) {
    Job job;
    job.record = std::move(record);
    const std::string id = job.record.id;
    job.ring_complete = false;  // earlier lines are in the store only
    switch (job.record.state) {
      case JobState::kSucceeded:
      case JobState::kFailed:
      case JobState::kCancelled:
        job.phase = Phase::kDone;
        break;
      case JobState::kPending:
        job.phase = Phase::kPending;
        job.ring_complete = true;
        pending_.push_back(id);
        break;
      case JobState::kRunning:
      case JobState::kRestarting: {
        // RUNNING: attempt `attempt` was started on `nodes`. RESTARTING: attempt `attempt` failed and was
        // being stopped on `nodes`; attempt+1 follows.
        const bool running = job.record.state == JobState::kRunning;
        job.phase = running ? Phase::kRunning : Phase::kStopping;
        job.outcome = Outcome::kRestart;
        job.outcome_reason = job.record.reason;
        job.all_running_announced = running;
        if (!job.record.nodes.empty() && job.record.world_size > 0) {
          job.local_world_size_hint = std::max(1, job.record.world_size / static_cast<int>(job.record.nodes.size()));
        }
        for (const auto& name : job.record.nodes) {
          Member member;
          member.node = name;
          member.ref = AgentRef{name, ""};
          member.start_sent = true;
          member.start_answered = true;
          member.started = running;
          member.awaiting_register = true;
          job.members.push_back(std::move(member));
        }
        reattaching = true;
        break;
      }
    }
    const auto [it, inserted] = jobs_.emplace(id, std::move(job));
    if (!inserted) continue;
    for (const auto& member : it->second.members) node_job_[member.node] = id;
  }
  std::sort(pending_.begin(), pending_.end(), [this](const std::string& a, const std::string& b) {
    const auto& ra = jobs_.at(a).record;
    const auto& rb = jobs_.at(b).record;
    return std::tie(ra.submitted_unix_ms, ra.id) < std::tie(rb.submitted_unix_ms, rb.id);
  });
  const absl::Time now = clock_.Now();
  for (const auto& id : pending_) {
    Job& job = jobs_.at(id);
    const absl::Duration left = absl::FromUnixMillis(job.record.submitted_unix_ms) + JoinTimeout(job) - now;
    job.join_timer = clock_.AddTimer(left, [this, id] { OnJoinTimeout(id); });
  }
  if (reattaching) {
    reattach_timer_ = clock_.AddTimer(options_.heartbeat_timeout, [this] { OnReattachTimeout(); });
  }
  spdlog::info("coordinator: loaded {} jobs ({} pending, re-attaching: {})", jobs_.size(), pending_.size(),
               reattaching ? "yes" : "no");
  TryPlacePending();
  return absl::OkStatus();
}

void Coordinator::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  alive_.reset();  // callbacks already posted by agents are dropped
  if (reattach_timer_ != 0) clock_.CancelTimer(reattach_timer_);
  for (auto& [name, node] : nodes_) {
    if (node.liveness_timer != 0) clock_.CancelTimer(node.liveness_timer);
    node.liveness_timer = 0;
  }
  for (auto& [id, job] : jobs_) {
    if (job.join_timer != 0) clock_.CancelTimer(job.join_timer);
    if (job.last_call_timer != 0) clock_.CancelTimer(job.last_call_timer);
    job.join_timer = job.last_call_timer = 0;
    for (auto& member : job.members) CloseWatch(member);
    CloseSubscribers(job, absl::UnavailableError("the coordinator is shutting down"));
  }
}

// --- Agents -------------------------------------------------------------------------------------

absl::StatusOr<absl::Duration> Coordinator::RegisterAgent(common::NodeInfo info,
                                                          const std::map<std::string, int>& running_groups,
                                                          const std::string& observed_host) {
  if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
  if (info.name.empty()) return absl::InvalidArgumentError("node.name: empty");
  if (info.agent_address.empty()) return absl::InvalidArgumentError("node.agent_address: empty");
  info.agent_address = DialableAddress(info.agent_address, observed_host);
  const std::string name = info.name;
  Node& node = nodes_[name];
  const bool was_alive = node.info.alive;
  node.info = std::move(info);
  node.info.alive = true;
  node.info.running_jobs.clear();
  node.last_heartbeat = clock_.Now();
  node.info.last_heartbeat_unix_ms = NowMs();
  ArmLiveness(node);
  agents_.Connect(AgentRef{name, node.info.agent_address});
  spdlog::info("coordinator: node {} registered at {} ({} GPUs, {} CPUs{})", name, node.info.agent_address,
               node.info.gpus, node.info.cpus, was_alive ? ", again" : "");

  // Re-attach to attempts this node belongs to (after a coordinator restart), and notice attempts the
  // agent lost (it restarted).
  std::vector<std::string> to_check;
  for (auto& [id, job] : jobs_) {
    if (job.phase != Phase::kRunning && job.phase != Phase::kStopping) continue;
    Member* member = FindMember(job, name);
    if (member == nullptr || member->lost || member->ended) continue;
    member->ref = AgentRef{name, node.info.agent_address};
    const auto it = running_groups.find(id);
    const bool runs = it != running_groups.end() && it->second == job.record.attempt;
    if (member->awaiting_register) {
      member->awaiting_register = false;
      if (job.phase == Phase::kStopping) {
        if (it != running_groups.end()) {
          SendStop(job, *member);
        } else {
          member->ended = true;
          to_check.push_back(id);
        }
        continue;
      }
      OpenWatch(job, *member);
      if (!runs) {
        // Its group ended while nobody watched: the watch replays its final event if the agent still
        // knows it; otherwise the attempt fails when the timer fires.
        member->started = false;
        ArmReplayTimer(job, *member,
                       common::StrCat("node ", name, " no longer runs attempt ", job.record.attempt,
                                      " (it ended while the coordinator was down, and the agent did not report how)"));
      }
    } else if (job.phase == Phase::kRunning && member->started && !runs && member->replay_timer == 0) {
      // Either its agent restarted (the workers died with it) or its group just ended and the final
      // event is still on its way over the watch: give the event the time a heartbeat gets.
      ArmReplayTimer(job, *member,
                     common::StrCat("node ", name, " re-registered without its workers of attempt ", job.record.attempt,
                                    " (its agent restarted?)"));
    }
  }
  for (const auto& id : to_check) {
    if (Job* job = FindJob(id)) CheckStopped(*job);
  }
  if (auto it = nodes_.find(name); it != nodes_.end()) ReconcileGroups(it->second, running_groups);
  TryPlacePending();
  return options_.heartbeat_interval;
}

bool Coordinator::Heartbeat(const std::string& name, const std::map<std::string, int>& running_groups) {
  if (shut_down_) return false;
  auto it = nodes_.find(name);
  if (it == nodes_.end() || !it->second.info.alive) return false;
  it->second.last_heartbeat = clock_.Now();
  it->second.info.last_heartbeat_unix_ms = NowMs();
  ReconcileGroups(it->second, running_groups);
  return true;
}

void Coordinator::ReconcileGroups(Node& node, const std::map<std::string, int>& running_groups) {
  const std::string& name = node.info.name;
  for (const auto& [job_id, attempt] : running_groups) {
    const Job* job = FindJob(job_id);
    bool stale = job == nullptr || job->phase == Phase::kDone || job->phase == Phase::kPending;
    if (!stale) {
      const auto busy = node_job_.find(name);
      stale = busy == node_job_.end() || busy->second != job_id;
    }
    if (!stale || node.reconcile_stops.contains(job_id)) continue;
    spdlog::info("coordinator: node {} still runs job {} (attempt {}), which it no longer belongs to: stopping it",
                 name, job_id, attempt);
    node.reconcile_stops.insert(job_id);
    agents_.StopGroup(AgentRef{name, node.info.agent_address}, job_id,
                      OnLoop<absl::Status>([this, name, job_id = job_id](absl::Status status) {
                        auto it = nodes_.find(name);
                        if (it != nodes_.end()) it->second.reconcile_stops.erase(job_id);
                        if (!status.ok()) {
                          spdlog::warn("coordinator: stopping stale job {} on node {} failed: {}", job_id, name,
                                       status.ToString());
                        }
                      }));
  }
}

void Coordinator::ArmLiveness(Node& node) {
  if (node.liveness_timer != 0) return;
  const std::string name = node.info.name;
  node.liveness_timer = clock_.AddTimer(options_.heartbeat_timeout, [this, name] { CheckLiveness(name); });
}

void Coordinator::CheckLiveness(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  node.liveness_timer = 0;
  if (!node.info.alive) return;
  const absl::Duration silent = clock_.Now() - node.last_heartbeat;
  if (silent >= options_.heartbeat_timeout) {
    NodeLost(name, common::StrCat("no heartbeat for ", Seconds(options_.heartbeat_timeout)));
    return;
  }
  node.liveness_timer = clock_.AddTimer(options_.heartbeat_timeout - silent, [this, name] { CheckLiveness(name); });
}

void Coordinator::NodeLost(const std::string& name, const std::string& why) {
  auto node_it = nodes_.find(name);
  if (node_it != nodes_.end()) {
    Node& node = node_it->second;
    if (!node.info.alive) return;
    node.info.alive = false;
    if (node.liveness_timer != 0) clock_.CancelTimer(node.liveness_timer);
    node.liveness_timer = 0;
  }
  ++metrics_.nodes_lost_total;
  const std::string reason = common::StrCat("node ", name, " lost (", why, ")");
  spdlog::warn("coordinator: {}", reason);
  std::vector<std::string> affected;
  for (auto& [id, job] : jobs_) {
    if ((job.phase == Phase::kRunning || job.phase == Phase::kStopping) && FindMember(job, name) != nullptr) {
      affected.push_back(id);
    }
  }
  for (const auto& id : affected) {
    Job* job = FindJob(id);
    if (job == nullptr) continue;
    Member* member = FindMember(*job, name);
    if (member == nullptr || member->lost) continue;
    if (member->ended) {
      // Its part was done; it just cannot take part in a later attempt.
      member->lost = true;
      CloseWatch(*member);
      if (auto busy = node_job_.find(name); busy != node_job_.end() && busy->second == id) node_job_.erase(busy);
      continue;
    }
    MemberFailed(*job, *member, reason, {}, /*lost=*/true);
  }
}

bool Coordinator::NodeAvailable(const std::string& name) const {
  auto it = nodes_.find(name);
  return it != nodes_.end() && it->second.info.alive && !node_job_.contains(name);
}

std::vector<common::NodeInfo> Coordinator::ListNodes() const {
  std::vector<common::NodeInfo> out;
  out.reserve(nodes_.size());
  for (const auto& [name, node] : nodes_) {
    common::NodeInfo info = node.info;
    info.running_jobs.clear();
    if (auto it = node_job_.find(name); it != node_job_.end()) info.running_jobs.push_back(it->second);
    out.push_back(std::move(info));
  }
  return out;
}

// --- Placement ----------------------------------------------------------------------------------

void Coordinator::TryPlacePending() {
  if (placing_) {
    place_again_ = true;
    return;
  }
  placing_ = true;
  do {
    place_again_ = false;
    // Copy: placing a job removes it from pending_.
    const std::vector<std::string> pending = pending_;
    for (const auto& id : pending) {
      Job* job = FindJob(id);
      if (job != nullptr && job->phase == Phase::kPending) TryPlace(*job);
    }
  } while (place_again_);
  placing_ = false;
}

bool Coordinator::TryPlace(Job& job) {
  const common::JobSpec& spec = job.record.spec;
  std::vector<std::string> take;
  if (!spec.nodes.empty()) {
    for (const auto& name : spec.nodes) {
      if (!NodeAvailable(name)) return false;
    }
    take = spec.nodes;
  } else {
    std::vector<std::string> available;
    for (const auto& [name, node] : nodes_) {
      if (node.info.alive && !node_job_.contains(name)) available.push_back(name);
    }
    const size_t min = static_cast<size_t>(spec.min_nodes);
    const size_t max = static_cast<size_t>(spec.max_nodes);
    if (available.size() < min) {
      if (job.last_call_timer != 0) {
        clock_.CancelTimer(job.last_call_timer);
        job.last_call_timer = 0;
        EmitState(job, common::StrCat("back to ", available.size(), " of ", min, " nodes needed; waiting"));
      }
      job.last_call_over = false;
      return false;
    }
    const bool take_now = available.size() >= max || job.last_call_over || LastCall(job) == absl::ZeroDuration();
    if (!take_now) {
      if (job.last_call_timer == 0) {
        const std::string id = job.record.id;
        job.last_call_timer = clock_.AddTimer(LastCall(job), [this, id] { OnLastCall(id); });
        EmitState(job, common::StrCat("have ", available.size(), " of ", min, "..", max, " nodes; waiting ",
                                      Seconds(LastCall(job)), " (last call) for more"));
      }
      return false;
    }
    available.resize(std::min(available.size(), max));
    take = std::move(available);
  }
  if (job.join_timer != 0) clock_.CancelTimer(job.join_timer);
  if (job.last_call_timer != 0) clock_.CancelTimer(job.last_call_timer);
  job.join_timer = job.last_call_timer = 0;
  pending_.erase(std::remove(pending_.begin(), pending_.end(), job.record.id), pending_.end());
  StartAttempt(job, std::move(take), 0);
  return true;
}

absl::Duration Coordinator::JoinTimeout(const Job& job) const {
  const double seconds = job.record.spec.join_timeout_s;
  return seconds >= 0 ? absl::Seconds(seconds) : options_.join_timeout;
}

absl::Duration Coordinator::LastCall(const Job& job) const {
  const double seconds = job.record.spec.last_call_s;
  return seconds >= 0 ? absl::Seconds(seconds) : options_.last_call;
}

void Coordinator::OnLastCall(const std::string& job_id) {
  Job* job = FindJob(job_id);
  if (job == nullptr || job->phase != Phase::kPending) return;
  job->last_call_timer = 0;
  job->last_call_over = true;
  TryPlacePending();
}

void Coordinator::OnJoinTimeout(const std::string& job_id) {
  Job* job = FindJob(job_id);
  if (job == nullptr || job->phase != Phase::kPending) return;
  job->join_timer = 0;
  Finish(*job, JobState::kFailed, 1,
         common::StrCat("rendezvous timed out after ", Seconds(JoinTimeout(*job)), ": ", DescribeMissing(*job)));
}

std::string Coordinator::DescribeMissing(const Job& job) const {
  const common::JobSpec& spec = job.record.spec;
  auto why_not = [this](const std::string& name) -> std::string {
    auto it = nodes_.find(name);
    if (it == nodes_.end()) return "not registered";
    if (!it->second.info.alive) return "lost";
    if (auto busy = node_job_.find(name); busy != node_job_.end())
      return common::StrCat("busy with job ", busy->second);
    return "available";
  };
  if (!spec.nodes.empty()) {
    std::vector<std::string> have, missing;
    for (const auto& name : spec.nodes) {
      if (NodeAvailable(name)) {
        have.push_back(name);
      } else {
        missing.push_back(common::StrCat(name, " (", why_not(name), ")"));
      }
    }
    return common::StrCat("have ", have.size(), " of ", spec.nodes.size(), " nodes",
                          have.empty() ? "" : common::StrCat(" (", NameList(have), ")"),
                          "; missing: ", NameList(missing));
  }
  std::vector<std::string> have, busy, lost;
  for (const auto& [name, node] : nodes_) {
    const std::string why = why_not(name);
    if (why == "available") {
      have.push_back(name);
    } else if (why == "lost") {
      lost.push_back(name);
    } else {
      busy.push_back(common::StrCat(name, " (", node_job_.at(name), ")"));
    }
  }
  const size_t need = static_cast<size_t>(spec.min_nodes);
  std::string out = common::StrCat("have ", have.size(), " of ", need, " nodes",
                                   have.empty() ? "" : common::StrCat(" (", NameList(have), ")"),
                                   "; missing: ", Plural(need > have.size() ? need - have.size() : 0, "more node"));
  std::vector<std::string> notes;
  if (!busy.empty()) notes.push_back(common::StrCat("busy: ", NameList(busy)));
  if (!lost.empty()) notes.push_back(common::StrCat("lost: ", NameList(lost)));
  if (notes.empty()) notes.push_back("no other node is registered");
  return common::StrCat(out, " (", common::StrJoin(notes, "; "), ")");
}

// --- Attempts -----------------------------------------------------------------------------------

void Coordinator::StartAttempt(Job& job, std::vector<std::string> names, int attempt) {
  const std::string id = job.record.id;
  for (auto& member : job.members) {
    CloseWatch(member);
    if (auto it = node_job_.find(member.node); it != node_job_.end() && it->second == id) node_job_.erase(it);
  }
  job.members.clear();
  if (job.waiting_since != absl::InfinitePast()) {
    metrics_.rendezvous_seconds.Observe(absl::ToDoubleSeconds(clock_.Now() - job.waiting_since));
    job.waiting_since = absl::InfinitePast();
  }
  job.phase = Phase::kRunning;
  job.failure_recorded = false;
  job.all_running_announced = false;
  job.record.attempt = attempt;
  job.record.nodes = names;
  job.record.exits.clear();

  job.master_addr = MasterAddrFor(nodes_.at(names.front()).info.agent_address);
  const std::string& master_addr = job.master_addr;
  auto port = ports_.Next([&](int candidate) {
    for (const auto& [other_id, other] : jobs_) {
      if (other_id != id && other.phase != Phase::kDone && other.phase != Phase::kPending &&
          other.master_port == candidate && other.master_addr == master_addr) {
        return true;
      }
    }
    return false;
  });
  if (!port.ok()) {
    Finish(job, JobState::kFailed, 1, std::string(port.status().message()));
    return;
  }
  job.master_port = *port;
  job.record.world_size = static_cast<int>(names.size()) * job.local_world_size_hint;
  if (job.record.started_unix_ms == 0) job.record.started_unix_ms = NowMs();
  for (const auto& name : names) {
    Member member;
    member.node = name;
    member.ref = AgentRef{name, nodes_.at(name).info.agent_address};
    job.members.push_back(std::move(member));
    node_job_[name] = id;
  }
  SetState(job, JobState::kRunning,
           common::StrCat("attempt ", attempt, ": starting on ", Plural(names.size(), "node"), " (", NameList(names),
                          "); MASTER_ADDR=", job.master_addr, " MASTER_PORT=", job.master_port));
  // SetState may not end the job, so the members are still those above.
  for (auto& member : job.members) OpenWatch(job, member);
}

void Coordinator::OpenWatch(Job& job, Member& member) {
  const std::string id = job.record.id;
  auto holder = std::make_shared<AgentClient::WatchId>(0);
  auto on_ready = OnLoop<>([this, id, holder] { OnWatchReady(id, *holder); });
  auto on_event = OnLoop<common::GroupEvent>(
      [this, id, holder](common::GroupEvent event) { OnGroupEvent(id, *holder, std::move(event)); });
  auto on_closed =
      OnLoop<absl::Status>([this, id, holder](absl::Status status) { OnWatchClosed(id, *holder, std::move(status)); });
  *holder = agents_.WatchGroup(member.ref, id, std::move(on_ready), std::move(on_event), std::move(on_closed));
  member.watch = *holder;
  watch_jobs_[member.watch] = id;
  if (!member.start_sent) {
    // An agent that does not send its initial metadata until its first event would never look ready:
    // start it anyway after a while (its watch replays the group's state, so nothing is missed).
    const AgentClient::WatchId watch = member.watch;
    member.ready_timer = clock_.AddTimer(options_.watch_ready_timeout, [this, id, watch] {
      Job* owner = FindJob(id);
      if (owner == nullptr) return;
      for (auto& m : owner->members) {
        if (m.watch == watch) m.ready_timer = 0;
      }
      OnWatchReady(id, watch);
    });
  }
}

void Coordinator::CloseWatch(Member& member) {
  if (member.ready_timer != 0) clock_.CancelTimer(member.ready_timer);
  if (member.replay_timer != 0) clock_.CancelTimer(member.replay_timer);
  member.ready_timer = member.replay_timer = 0;
  if (member.watch == 0) return;
  watch_jobs_.erase(member.watch);
  agents_.CancelWatch(member.watch);
  member.watch = 0;
}

void Coordinator::OnWatchReady(const std::string& job_id, AgentClient::WatchId watch) {
  Job* job = FindJob(job_id);
  if (job == nullptr || job->phase != Phase::kRunning || watch == 0) return;
  const int num_machines = static_cast<int>(job->members.size());
  for (int rank = 0; rank < num_machines; ++rank) {
    Member& member = job->members[static_cast<size_t>(rank)];
    if (member.watch != watch) continue;
    if (member.ready_timer != 0) clock_.CancelTimer(member.ready_timer);
    member.ready_timer = 0;
    if (member.start_sent || member.ended) return;
    member.start_sent = true;
    const common::Assignment assignment{
        .job_id = job_id,
        .attempt = job->record.attempt,
        .machine_rank = rank,
        .num_machines = num_machines,
        .master_addr = job->master_addr,
        .master_port = job->master_port,
        .base_rank = rank * job->local_world_size_hint,
        .world_size = num_machines * job->local_world_size_hint,
    };
    const int attempt = job->record.attempt;
    agents_.StartGroup(
        member.ref, job->record.spec, assignment,
        OnLoop<absl::StatusOr<int>>([this, job_id, attempt, node = member.node](absl::StatusOr<int> result) {
          OnStartDone(job_id, attempt, node, std::move(result));
        }));
    return;
  }
}

void Coordinator::OnStartDone(const std::string& job_id, int attempt, const std::string& node,
                              absl::StatusOr<int> result) {
  Job* job = FindJob(job_id);
  if (job == nullptr || job->record.attempt != attempt) return;
  if (job->phase == Phase::kDone) {
    // A short job can end before every node's answer arrives: its record still learns the world size.
    if (!result.ok()) return;
    for (auto& [name, size] : job->final_local_sizes) {
      if (name == node) size = *result;
    }
    const std::optional<int> world =
        SumOfLocalSizes(job->final_local_sizes, [](const auto& entry) { return entry.second; });
    if (world && *world != job->record.world_size) {
      job->record.world_size = *world;
      Save(*job);
    }
    return;
  }
  Member* member = FindMember(*job, node);
  if (member == nullptr) return;
  member->start_answered = true;
  if (job->phase == Phase::kStopping) {
    if (member->stop_wanted) SendStop(*job, *member);
    return;
  }
  if (result.ok()) {
    member->local_world_size = *result;
    // Answers may come after the kStarted events: the record then learns the world size here.
    if (job->all_running_announced && UpdateWorldSize(*job)) Save(*job);
    return;
  }
  if (member->ended) return;
  if (result.status().code() == absl::StatusCode::kUnavailable) {
    NodeLost(node, common::StrCat("its agent is unreachable: ", result.status().message()));
    return;
  }
  MemberFailed(*job, *member,
               common::StrCat("starting the workers on node ", node, " failed: ", result.status().message()), {},
               /*lost=*/false);
}

void Coordinator::OnGroupEvent(const std::string& job_id, AgentClient::WatchId watch, common::GroupEvent event) {
  Job* job = FindJob(job_id);
  if (job == nullptr || watch == 0) return;
  Member* member = nullptr;
  for (auto& m : job->members) {
    if (m.watch == watch) member = &m;
  }
  if (event.kind == common::GroupEvent::Kind::kLog) {
    if (!event.log) return;
    common::LogLine line = std::move(*event.log);
    line.job_id = job_id;
    if (line.node.empty() && member != nullptr) line.node = member->node;
    OnLog(*job, std::move(line));
    return;
  }
  if (member == nullptr || event.attempt != job->record.attempt || member->ended) return;
  if (job->phase != Phase::kRunning && job->phase != Phase::kStopping) return;
  if (member->replay_timer != 0) clock_.CancelTimer(member->replay_timer);
  member->replay_timer = 0;
  switch (event.kind) {
    case common::GroupEvent::Kind::kStarted: {
      if (member->started) return;
      member->started = true;
      if (job->phase != Phase::kRunning || job->all_running_announced) return;
      for (const auto& m : job->members) {
        if (!m.started) return;
      }
      job->all_running_announced = true;
      const bool world_changed = UpdateWorldSize(*job);
      EmitState(*job, common::StrCat("attempt ", job->record.attempt, ": all ", Plural(job->members.size(), "node"),
                                     " running (", Plural(job->record.world_size, "worker"), ")"));
      // Only the world size changed (the state did not): announcing first costs the follower no fsync.
      if (world_changed) Save(*job);
      return;
    }
    case common::GroupEvent::Kind::kSucceeded: {
      member->ended = true;
      member->succeeded = true;
      for (auto& exit : event.exits) {
        if (exit.node.empty()) exit.node = member->node;
        job->record.exits.push_back(exit);
      }
      if (job->phase == Phase::kStopping) {
        CheckStopped(*job);
      } else {
        CheckSucceeded(*job);
      }
      return;
    }
    case common::GroupEvent::Kind::kFailed: {
      for (auto& exit : event.exits) {
        if (exit.node.empty()) exit.node = member->node;
      }
      const std::string reason = DescribeFailure(member->node, event.exits, event.message);
      MemberFailed(*job, *member, reason, event.exits, /*lost=*/false);
      return;
    }
    case common::GroupEvent::Kind::kStopped: {
      if (job->phase == Phase::kStopping) {
        member->ended = true;
        CheckStopped(*job);
        return;
      }
      MemberFailed(*job, *member,
                   common::StrCat("the workers on node ", member->node, " were stopped",
                                  event.message.empty() ? "" : common::StrCat(": ", FirstLine(event.message))),
                   event.exits, /*lost=*/false);
      return;
    }
    case common::GroupEvent::Kind::kLog:
      return;
  }
}

bool Coordinator::UpdateWorldSize(Job& job) {
  const std::optional<int> world =
      SumOfLocalSizes(job.members, [](const Member& member) { return member.local_world_size; });
  if (!world) return false;
  job.local_world_size_hint = job.members.front().local_world_size;
  if (job.record.world_size == *world) return false;
  job.record.world_size = *world;
  return true;
}

void Coordinator::OnWatchClosed(const std::string& job_id, AgentClient::WatchId watch, absl::Status status) {
  if (watch_jobs_.erase(watch) == 0) return;  // we cancelled it
  Job* job = FindJob(job_id);
  if (job == nullptr) return;
  Member* member = nullptr;
  for (auto& m : job->members) {
    if (m.watch == watch) member = &m;
  }
  if (member == nullptr) return;
  member->watch = 0;
  if (member->ready_timer != 0) clock_.CancelTimer(member->ready_timer);
  member->ready_timer = 0;
  if (member->ended || job->phase != Phase::kRunning) return;  // stopping: the StopGroup answer decides
  NodeLost(member->node, common::StrCat("its agent's event stream broke: ", status.ToString()));
}

void Coordinator::OnStopDone(const std::string& job_id, int attempt, const std::string& node, absl::Status status) {
  Job* job = FindJob(job_id);
  if (job == nullptr || job->record.attempt != attempt || job->phase != Phase::kStopping) return;
  Member* member = FindMember(*job, node);
  if (member == nullptr) return;
  if (!status.ok()) spdlog::warn("coordinator: stopping job {} on node {}: {}", job_id, node, status.ToString());
  member->ended = true;
  CheckStopped(*job);
}

void Coordinator::ArmReplayTimer(Job& job, Member& member, std::string reason) {
  if (member.replay_timer != 0) clock_.CancelTimer(member.replay_timer);
  member.replay_timer = clock_.AddTimer(options_.heartbeat_timeout,
                                        [this, id = job.record.id, attempt = job.record.attempt, node = member.node,
                                         reason = std::move(reason)] { OnReplayTimeout(id, attempt, node, reason); });
}

void Coordinator::OnReplayTimeout(const std::string& job_id, int attempt, const std::string& node,
                                  const std::string& reason) {
  Job* job = FindJob(job_id);
  if (job == nullptr || job->record.attempt != attempt || job->phase != Phase::kRunning) return;
  Member* member = FindMember(*job, node);
  if (member == nullptr) return;
  member->replay_timer = 0;
  if (member->ended) return;
  MemberFailed(*job, *member, reason, {}, /*lost=*/false);
}

void Coordinator::OnReattachTimeout() {
  reattach_timer_ = 0;
  std::vector<std::pair<std::string, std::string>> missing;  // job, node
  for (auto& [id, job] : jobs_) {
    if (job.phase != Phase::kRunning && job.phase != Phase::kStopping) continue;
    for (const auto& member : job.members) {
      if (member.awaiting_register && !member.ended) missing.emplace_back(id, member.node);
    }
  }
  for (const auto& [id, node] : missing) {
    Job* job = FindJob(id);
    if (job == nullptr) continue;
    Member* member = FindMember(*job, node);
    if (member == nullptr || member->ended || !member->awaiting_register) continue;
    member->awaiting_register = false;
    ++metrics_.nodes_lost_total;
    MemberFailed(*job, *member,
                 common::StrCat("node ", node, " lost (it did not register within ",
                                Seconds(options_.heartbeat_timeout), " of the coordinator's restart)"),
                 {}, /*lost=*/true);
  }
}

void Coordinator::MemberFailed(Job& job, Member& member, const std::string& reason,
                               const std::vector<common::RankExit>& exits, bool lost) {
  member.ended = true;
  if (lost) {
    member.lost = true;
    CloseWatch(member);
    if (auto it = node_job_.find(member.node); it != node_job_.end() && it->second == job.record.id) {
      node_job_.erase(it);
    }
  }
  if (job.phase == Phase::kStopping) {
    for (const auto& exit : exits) job.record.exits.push_back(exit);
    CheckStopped(job);
    return;
  }
  if (job.phase != Phase::kRunning) return;
  // The first failure of the attempt is its root cause: its exits go first.
  job.record.exits.insert(job.record.exits.begin(), exits.begin(), exits.end());
  job.failure_recorded = true;
  for (const auto& exit : exits) {
    JobEvent event;
    event.kind = JobEvent::Kind::kRankExit;
    event.job_id = job.record.id;
    event.state = job.record.state;
    event.attempt = job.record.attempt;
    event.message = exit.message;
    event.exit = exit;
    Emit(job, event);
  }
  const int exit_code = exits.empty() ? 1 : exits.front().exit_code;
  int remaining = 0;
  for (const auto& m : job.members) remaining += m.lost ? 0 : 1;
  const int need = NodesNeeded(job);
  const int max_restarts = job.record.spec.max_restarts;
  if (remaining < need) {
    BeginStopping(job, Outcome::kFail,
                  common::StrCat(reason, "; ", Plural(remaining, "node"), " left, ", need, " needed"), exit_code);
  } else if (job.record.attempt >= max_restarts) {
    BeginStopping(job, Outcome::kFail, common::StrCat(reason, "; no restarts left (max_restarts=", max_restarts, ")"),
                  exit_code);
  } else {
    BeginStopping(job, Outcome::kRestart, reason, exit_code);
  }
}

void Coordinator::BeginStopping(Job& job, Outcome outcome, std::string reason, int exit_code) {
  job.phase = Phase::kStopping;
  job.outcome = outcome;
  job.outcome_reason = std::move(reason);
  job.outcome_exit_code = exit_code;
  job.record.reason = job.outcome_reason;
  size_t to_stop = 0;
  for (const auto& m : job.members) to_stop += (!m.ended && !m.lost) ? 1 : 0;
  switch (outcome) {
    case Outcome::kRestart:
      ++metrics_.jobs_restarted_total;
      job.waiting_since = clock_.Now();
      SetState(job, JobState::kRestarting,
               common::StrCat(job.outcome_reason, "; restarting (attempt ", job.record.attempt + 1,
                              ", max_restarts=", job.record.spec.max_restarts, ")"));
      break;
    case Outcome::kFail:
      EmitState(job,
                common::StrCat("failing: ", job.outcome_reason, "; stopping the workers on ", Plural(to_stop, "node")));
      break;
    case Outcome::kCancel:
      EmitState(job, common::StrCat("cancelling: stopping the workers on ", Plural(to_stop, "node")));
      break;
  }
  for (auto& member : job.members) {
    if (!member.ended && !member.lost) SendStop(job, member);
  }
  CheckStopped(job);
}

void Coordinator::SendStop(Job& job, Member& member) {
  if (member.stop_sent || member.ended || member.lost) return;
  if (member.awaiting_register) {
    member.stop_wanted = true;  // sent when it registers (or it is lost by then)
    return;
  }
  if (member.start_sent && !member.start_answered) {
    // A StopGroup could overtake the StartGroup still on its way; stop once the start is answered.
    member.stop_wanted = true;
    return;
  }
  if (!member.start_sent) {
    member.ended = true;  // nothing was started there
    return;
  }
  member.stop_sent = true;
  const std::string id = job.record.id;
  const int attempt = job.record.attempt;
  agents_.StopGroup(member.ref, id, OnLoop<absl::Status>([this, id, attempt, node = member.node](absl::Status status) {
                      OnStopDone(id, attempt, node, std::move(status));
                    }));
}

void Coordinator::CheckStopped(Job& job) {
  if (job.phase != Phase::kStopping) return;
  for (const auto& member : job.members) {
    if (!member.ended && !member.lost) return;
  }
  for (auto& member : job.members) CloseWatch(member);
  switch (job.outcome) {
    case Outcome::kRestart: {
      std::vector<std::string> names;
      for (const auto& member : job.members) {
        if (!member.lost) names.push_back(member.node);
      }
      const int need = NodesNeeded(job);
      if (static_cast<int>(names.size()) < need) {
        Finish(job, JobState::kFailed, job.outcome_exit_code,
               common::StrCat(job.outcome_reason, "; ", Plural(names.size(), "node"), " left, ", need, " needed"));
        return;
      }
      StartAttempt(job, std::move(names), job.record.attempt + 1);
      return;
    }
    case Outcome::kFail:
      Finish(job, JobState::kFailed, job.outcome_exit_code, job.outcome_reason);
      return;
    case Outcome::kCancel:
      Finish(job, JobState::kCancelled, kCancelExitCode, job.outcome_reason);
      return;
  }
}

void Coordinator::CheckSucceeded(Job& job) {
  if (job.phase != Phase::kRunning) return;
  for (const auto& member : job.members) {
    if (!member.ended || !member.succeeded) return;
  }
  Finish(job, JobState::kSucceeded, 0, "");
}

void Coordinator::Finish(Job& job, JobState state, int exit_code, std::string reason) {
  const std::string id = job.record.id;
  if (job.join_timer != 0) clock_.CancelTimer(job.join_timer);
  if (job.last_call_timer != 0) clock_.CancelTimer(job.last_call_timer);
  job.join_timer = job.last_call_timer = 0;
  pending_.erase(std::remove(pending_.begin(), pending_.end(), id), pending_.end());
  job.final_local_sizes.clear();
  for (auto& member : job.members) {
    CloseWatch(member);
    if (auto it = node_job_.find(member.node); it != node_job_.end() && it->second == id) node_job_.erase(it);
    job.final_local_sizes.emplace_back(member.node, member.local_world_size);
  }
  if (!job.members.empty()) UpdateWorldSize(job);
  job.members.clear();
  job.phase = Phase::kDone;
  job.record.state = state;
  job.record.exit_code = exit_code;
  job.record.reason = std::move(reason);
  job.record.ended_unix_ms = NowMs();
  Save(job);
  spdlog::info("coordinator: job {} {} (exit code {}){}{}", id, common::ToString(state), exit_code,
               job.record.reason.empty() ? "" : ": ", job.record.reason);
  Emit(job, StateEvent(job, job.record.reason));
  CloseSubscribers(job, absl::OkStatus());
  store_.CloseLog(id);
  job.ring.clear();
  job.ring_complete = false;
  TryPlacePending();
}

// --- Records, events, logs ----------------------------------------------------------------------

void Coordinator::SetState(Job& job, JobState state, std::string message) {
  job.record.state = state;
  Save(job);
  EmitState(job, message);
}

void Coordinator::Save(const Job& job) {
  const absl::Status status = store_.Save(job.record);
  if (!status.ok()) {
    ++metrics_.store_errors_total;
    spdlog::error("coordinator: saving job {} failed: {}", job.record.id, status.ToString());
  }
}

JobEvent Coordinator::StateEvent(const Job& job, const std::string& message) const {
  JobEvent event;
  event.kind = JobEvent::Kind::kState;
  event.job_id = job.record.id;
  event.state = job.record.state;
  event.attempt = job.record.attempt;
  event.message = message;
  event.exit_code = common::IsFinal(job.record.state) ? job.record.exit_code : 0;
  return event;
}

void Coordinator::EmitState(Job& job, const std::string& message) {
  // Final states are logged by Finish(), with the exit code.
  if (!common::IsFinal(job.record.state)) {
    spdlog::info("coordinator: job {} {} (attempt {}): {}", job.record.id, common::ToString(job.record.state),
                 job.record.attempt, message);
  }
  Emit(job, StateEvent(job, message));
}

void Coordinator::Emit(Job& job, const JobEvent& event) {
  const bool is_log = event.kind == JobEvent::Kind::kLog;
  std::vector<SubscriptionId> gone;
  for (SubscriptionId id : job.subscribers) {
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) continue;
    Subscriber& sub = it->second;
    bool keep = true;
    if (sub.events) {
      if (is_log && (!sub.want_logs || (sub.rank >= 0 && event.log && event.log->rank != sub.rank))) continue;
      keep = sub.events(event);
    } else if (sub.logs && is_log && event.log) {
      if (sub.rank >= 0 && event.log->rank != sub.rank) continue;
      keep = sub.logs(*event.log);
    }
    if (!keep) gone.push_back(id);
  }
  for (SubscriptionId id : gone) Unsubscribe(id);
}

void Coordinator::OnLog(Job& job, common::LogLine line) {
  ++metrics_.log_lines_total;
  if (job.phase != Phase::kDone) {
    job.ring.push_back(line);
    if (job.ring.size() > options_.log_ring_lines) {
      job.ring.pop_front();
      job.ring_complete = false;
    }
  }
  if (const absl::Status status = store_.AppendLog(job.record.id, line); !status.ok() && !job.log_error_reported) {
    job.log_error_reported = true;
    ++metrics_.store_errors_total;
    spdlog::error("coordinator: writing the log of job {} failed: {}", job.record.id, status.ToString());
  }
  if (job.subscribers.empty()) return;
  JobEvent event;
  event.kind = JobEvent::Kind::kLog;
  event.job_id = job.record.id;
  event.state = job.record.state;
  event.attempt = line.attempt;
  event.log = std::move(line);
  Emit(job, event);
}

Coordinator::SubscriptionId Coordinator::AddSubscriber(Job& job, Subscriber subscriber) {
  const SubscriptionId id = next_subscription_++;
  subscribers_.emplace(id, std::move(subscriber));
  job.subscribers.push_back(id);
  return id;
}

void Coordinator::CloseSubscribers(Job& job, const absl::Status& status) {
  std::vector<SubscriptionId> ids;
  ids.swap(job.subscribers);
  for (SubscriptionId id : ids) {
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) continue;
    ClosedCallback closed = std::move(it->second.closed);
    subscribers_.erase(it);
    if (closed) closed(status);
  }
}

void Coordinator::Unsubscribe(SubscriptionId id) {
  auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  if (Job* job = FindJob(it->second.job_id)) {
    auto& subs = job->subscribers;
    subs.erase(std::remove(subs.begin(), subs.end(), id), subs.end());
  }
  subscribers_.erase(it);
}

// --- Jobs API -----------------------------------------------------------------------------------

absl::StatusOr<Coordinator::Submitted> Coordinator::Submit(common::JobSpec spec, EventSink sink,
                                                           ClosedCallback closed) {
  if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
  if (!spec.nodes.empty()) {
    std::set<std::string> seen;
    for (const auto& name : spec.nodes) {
      if (name.empty()) return absl::InvalidArgumentError("spec.nodes: an empty node name");
      if (!seen.insert(name).second) {
        return absl::InvalidArgumentError(common::StrCat("spec.nodes: '", name, "' is listed twice"));
      }
    }
    spec.min_nodes = spec.max_nodes = static_cast<int>(spec.nodes.size());
  }
  if (spec.min_nodes < 1 || spec.max_nodes < spec.min_nodes) {
    return absl::InvalidArgumentError(
        common::StrCat("spec: min_nodes ", spec.min_nodes, " / max_nodes ", spec.max_nodes, ": need 1 <= min <= max"));
  }
  if (spec.max_restarts < 0) return absl::InvalidArgumentError("spec.max_restarts: negative");
  std::string id;
  do {
    id = MakeJobId(clock_.Now(), next_job_counter_++);
  } while (jobs_.contains(id));

  Job fresh;
  fresh.record.id = id;
  fresh.record.spec = std::move(spec);
  fresh.record.state = JobState::kPending;
  fresh.record.submitted_unix_ms = NowMs();
  fresh.waiting_since = clock_.Now();
  Job& job = jobs_.emplace(id, std::move(fresh)).first->second;
  pending_.push_back(id);
  ++metrics_.jobs_submitted_total;
  const SubscriptionId subscription =
      AddSubscriber(job, Subscriber{.job_id = id, .events = std::move(sink), .closed = std::move(closed)});
  const common::JobSpec& s = job.record.spec;
  EmitState(job, s.nodes.empty()
                     ? common::StrCat("waiting for ",
                                      s.min_nodes == s.max_nodes ? common::StrCat(s.min_nodes)
                                                                 : common::StrCat(s.min_nodes, "..", s.max_nodes),
                                      s.max_nodes == 1 ? " node" : " nodes")
                     : common::StrCat("waiting for nodes ", NameList(s.nodes)));
  job.join_timer = clock_.AddTimer(JoinTimeout(job), [this, id] { OnJoinTimeout(id); });
  TryPlacePending();
  // Saved before this loop turn ends, and before any agent is asked to start it: placed at once, the
  // RUNNING record StartAttempt saved covers it; still pending, it is saved here. (A crash within this
  // turn loses a job whose submitter's stream breaks with it and that never started anywhere.)
  if (job.phase == Phase::kPending) Save(job);
  return Submitted{id, subscription};
}

absl::StatusOr<Coordinator::SubscriptionId> Coordinator::Watch(const std::string& job_id, WatchOptions options,
                                                               EventSink sink, ClosedCallback closed) {
  if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
  Job* job = FindJob(job_id);
  if (job == nullptr) return absl::NotFoundError(common::StrCat("no job ", job_id));
  if (!sink(StateEvent(*job, job->record.reason))) return SubscriptionId{0};
  if (job->phase == Phase::kDone) {
    if (closed) closed(absl::OkStatus());
    return SubscriptionId{0};
  }
  return AddSubscriber(*job, Subscriber{.job_id = job_id,
                                        .events = std::move(sink),
                                        .want_logs = options.logs,
                                        .rank = options.rank,
                                        .closed = std::move(closed)});
}

absl::StatusOr<Coordinator::SubscriptionId> Coordinator::StreamLogs(const std::string& job_id, int rank, bool follow,
                                                                    LogSink sink, ClosedCallback closed) {
  if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
  Job* job = FindJob(job_id);
  if (job == nullptr) return absl::NotFoundError(common::StrCat("no job ", job_id));
  auto deliver = [&](const common::LogLine& line) { return (rank >= 0 && line.rank != rank) || sink(line); };
  if (job->ring_complete) {
    for (const auto& line : job->ring) {
      if (!deliver(line)) return SubscriptionId{0};
    }
  } else {
    // TODO(coordinator): read large logs off the loop thread.
    auto lines = store_.ReadLogs(job_id);
    if (!lines.ok() && !absl::IsNotFound(lines.status())) return lines.status();
    if (lines.ok()) {
      for (const auto& line : *lines) {
        if (!deliver(line)) return SubscriptionId{0};
      }
    }
  }
  if (!follow || job->phase == Phase::kDone) {
    if (closed) closed(absl::OkStatus());
    return SubscriptionId{0};
  }
  return AddSubscriber(
      *job, Subscriber{.job_id = job_id, .logs = std::move(sink), .rank = rank, .closed = std::move(closed)});
}

absl::StatusOr<common::JobRecord> Coordinator::GetJob(const std::string& job_id) const {
  const Job* job = FindJob(job_id);
  if (job == nullptr) return absl::NotFoundError(common::StrCat("no job ", job_id));
  return job->record;
}

std::vector<common::JobRecord> Coordinator::ListJobs() const {
  std::vector<common::JobRecord> out;
  out.reserve(jobs_.size());
  for (const auto& [id, job] : jobs_) out.push_back(job.record);
  std::sort(out.begin(), out.end(), [](const common::JobRecord& a, const common::JobRecord& b) {
    return std::tie(a.submitted_unix_ms, a.id) < std::tie(b.submitted_unix_ms, b.id);
  });
  return out;
}

absl::StatusOr<common::JobRecord> Coordinator::Cancel(const std::string& job_id) {
  if (shut_down_) return absl::UnavailableError("the coordinator is shutting down");
  Job* job = FindJob(job_id);
  if (job == nullptr) return absl::NotFoundError(common::StrCat("no job ", job_id));
  switch (job->phase) {
    case Phase::kDone:
      return absl::FailedPreconditionError(
          common::StrCat("job ", job_id, " already ended (", common::ToString(job->record.state), ")"));
    case Phase::kPending:
      Finish(*job, JobState::kCancelled, kCancelExitCode, "cancelled before it started");
      break;
    case Phase::kRunning:
      BeginStopping(*job, Outcome::kCancel, "cancelled", kCancelExitCode);
      break;
    case Phase::kStopping:
      if (job->outcome == Outcome::kRestart) {
        job->outcome = Outcome::kCancel;
        job->outcome_reason = "cancelled while restarting";
        job->outcome_exit_code = kCancelExitCode;
        EmitState(*job, "cancelling: the restart will not happen");
        CheckStopped(*job);
      }
      break;
  }
  return job->record;
}

}  // namespace accel::daemon
