// CoordinatorLink: an agent's registration with the coordinator. Registers on start, heartbeats every
// interval with the groups it runs, and registers again whenever the coordinator says it does not
// know the node (it restarted) or stops answering.
//
// Owns one thread from Start() until destruction.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/types/cluster_types.h"
#include "proto/convert/channel_security.h"

namespace accel::daemon {

class CoordinatorLink {
 public:
  CoordinatorLink(std::string coordinator_address, std::function<common::NodeInfo()> describe,
                  std::function<std::map<std::string, int>()> running_groups, absl::Duration heartbeat_interval,
                  wire::ChannelSecurity security = {});
  ~CoordinatorLink();
  CoordinatorLink(const CoordinatorLink&) = delete;
  CoordinatorLink& operator=(const CoordinatorLink&) = delete;

  void Start();

 private:
  void Loop();

  const std::string address_;
  const std::function<common::NodeInfo()> describe_;
  const std::function<std::map<std::string, int>()> running_groups_;
  absl::Duration interval_;
  const wire::ChannelSecurity security_;  // TLS / client certificate / token toward the coordinator
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace accel::daemon
