// FakeAgentClient: an AgentClient that records every call; the test answers them by hand (or lets
// watches report ready at once). Callbacks run synchronously on the test thread; the coordinator
// posts them to its loop, so the test drains the loop afterwards.
// Thread: the test thread only.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/coordinator/agent_client.h"

namespace accel::testing {

class FakeAgentClient final : public daemon::AgentClient {
 public:
  struct StartCall {
    daemon::AgentRef agent;
    common::JobSpec spec;
    common::Assignment assignment;
    StartCallback done;
    bool answered = false;
  };
  struct StopCall {
    daemon::AgentRef agent;
    std::string job_id;
    DoneCallback done;
    bool answered = false;
  };
  struct Watch {
    WatchId id = 0;
    daemon::AgentRef agent;
    std::string job_id;
    ReadyCallback on_ready;
    EventCallback on_event;
    ClosedCallback on_closed;
    bool open = true;
    bool cancelled = false;
  };

  /// When true (default), every watch reports ready as soon as it is opened.
  bool auto_ready = true;

  void StartGroup(const daemon::AgentRef& agent, const common::JobSpec& spec, const common::Assignment& assignment,
                  StartCallback done) override {
    starts.push_back(StartCall{agent, spec, assignment, std::move(done)});
  }
  void StopGroup(const daemon::AgentRef& agent, const std::string& job_id, DoneCallback done) override {
    stops.push_back(StopCall{agent, job_id, std::move(done)});
  }
  WatchId WatchGroup(const daemon::AgentRef& agent, const std::string& job_id, ReadyCallback on_ready,
                     EventCallback on_event, ClosedCallback on_closed) override {
    const WatchId id = next_id_++;
    Watch& watch = watches[id];
    watch = Watch{id, agent, job_id, std::move(on_ready), std::move(on_event), std::move(on_closed)};
    if (auto_ready) watch.on_ready();
    return id;
  }
  void CancelWatch(WatchId id) override {
    auto it = watches.find(id);
    if (it == watches.end() || !it->second.open) return;
    it->second.open = false;
    it->second.cancelled = true;
    it->second.on_closed(absl::OkStatus());
  }

  // --- Driving ------------------------------------------------------------------------------------

  /// The open watch of `node` on `job_id`, or nullptr.
  Watch* OpenWatch(const std::string& node, const std::string& job_id) {
    for (auto& [id, watch] : watches) {
      if (watch.open && watch.agent.node == node && watch.job_id == job_id) return &watch;
    }
    return nullptr;
  }
  int OpenWatchCount(const std::string& job_id) const {
    int n = 0;
    for (const auto& [id, watch] : watches) n += (watch.open && watch.job_id == job_id) ? 1 : 0;
    return n;
  }
  /// Sends `event` on the open watch of `node` (returns false when there is none).
  bool Emit(const std::string& node, const common::GroupEvent& event) {
    Watch* watch = OpenWatch(node, event.job_id);
    if (watch == nullptr) return false;
    watch->on_event(event);
    return true;
  }
  /// Breaks the open watch of `node` as a dying agent would.
  bool Break(const std::string& node, const std::string& job_id, absl::Status status) {
    Watch* watch = OpenWatch(node, job_id);
    if (watch == nullptr) return false;
    watch->open = false;
    watch->on_closed(std::move(status));
    return true;
  }
  /// Answers every unanswered StartGroup of `attempt` with `local_world_size`.
  int AnswerStarts(int attempt, int local_world_size = 1) {
    int n = 0;
    for (auto& call : starts) {
      if (call.answered || call.assignment.attempt != attempt) continue;
      call.answered = true;
      call.done(local_world_size);
      ++n;
    }
    return n;
  }
  /// Answers every unanswered StopGroup with `status`.
  int AnswerStops(absl::Status status = absl::OkStatus()) {
    int n = 0;
    for (auto& call : stops) {
      if (call.answered) continue;
      call.answered = true;
      call.done(status);
      ++n;
    }
    return n;
  }
  std::vector<StartCall*> StartsOf(int attempt) {
    std::vector<StartCall*> out;
    for (auto& call : starts) {
      if (call.assignment.attempt == attempt) out.push_back(&call);
    }
    return out;
  }
  std::vector<std::string> StoppedNodes() const {
    std::vector<std::string> out;
    for (const auto& call : stops) out.push_back(call.agent.node);
    return out;
  }

  std::deque<StartCall> starts;
  std::deque<StopCall> stops;
  std::map<WatchId, Watch> watches;

 private:
  WatchId next_id_ = 1;
};

}  // namespace accel::testing
