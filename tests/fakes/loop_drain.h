// DrainLoop: runs what has been posted to an EventLoop that nobody runs, on the calling thread.
#pragma once

#include "common/event_loop.h"

namespace accel::testing {

/// Runs everything posted to `loop`, and what that posts in turn, up to `rounds` generations deep.
/// The loop must not be running on another thread.
inline void DrainLoop(common::EventLoop& loop, int rounds = 16) {
  for (int i = 0; i < rounds; ++i) {
    loop.Post([&loop] { loop.Stop(); });
    loop.Run();
  }
}

}  // namespace accel::testing
