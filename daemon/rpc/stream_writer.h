// QueuedWriteReactor: a server-streaming gRPC reactor fed from any thread through a StreamWriter
// handle. Writes go out one at a time in the order they were pushed; Finish waits for the queue to
// drain. A client that goes away (cancel, broken connection) makes Push return false and runs the
// cancel hook once, so whoever feeds the stream can unsubscribe.
//
// Threading: StreamWriter methods are thread-safe and never block on the network. The reactor's own
// callbacks run on gRPC threads. Lifetime: the reactor deletes itself in OnDone; StreamWriter handles
// (shared_ptr) may outlive it and then only return false.
//
// Backpressure: at most `max_queued` messages wait; beyond that, pushes marked droppable (log lines)
// are dropped and counted, others (state changes) are still queued.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"

namespace accel::daemon::rpc {

template <typename Msg>
class QueuedWriteReactor;

template <typename Msg>
class StreamWriter {
 public:
  explicit StreamWriter(size_t max_queued) : max_queued_(max_queued) {}

  /// Queues `msg`. False once the stream is finished or its client went away.
  bool Push(Msg msg, bool droppable = false) {
    {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr || cancelled_ || finish_) return false;
      if (droppable && queue_.size() >= max_queued_) {
        ++dropped_;
        return true;
      }
      queue_.push_back(std::move(msg));
    }
    Pump();
    return true;
  }

  /// Ends the stream with `status` once every queued message is written. Later calls are ignored.
  void Finish(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (finish_) return;
      finish_ = std::move(status);
    }
    Pump();
  }

  /// Sends the initial metadata now (before any message), so the client learns the stream is set up.
  void SendInitialMetadata() {
    QueuedWriteReactor<Msg>* reactor = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr || finished_ || writing_ || sent_metadata_) return;
      sent_metadata_ = true;
      reactor = reactor_;
    }
    reactor->StartSendInitialMetadata();
  }

  /// Runs `hook` once when the client goes away or the stream is done (at once if that already
  /// happened).
  void SetCancelHook(std::function<void()> hook) {
    {
      absl::MutexLock lock(&mu_);
      if (!hook_ran_) {
        hook_ = std::move(hook);
        return;
      }
    }
    hook();
  }

  size_t dropped() const {
    absl::MutexLock lock(&mu_);
    return dropped_;
  }

 private:
  friend class QueuedWriteReactor<Msg>;

  void Attach(QueuedWriteReactor<Msg>* reactor) {
    absl::MutexLock lock(&mu_);
    reactor_ = reactor;
  }

  // Starts the next write, or the finish, when nothing is in flight.
  void Pump() {
    QueuedWriteReactor<Msg>* reactor = nullptr;
    bool write = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr || finished_ || writing_) return;
      if (!queue_.empty() && !cancelled_) {
        current_ = std::move(queue_.front());
        queue_.pop_front();
        writing_ = true;
        write = true;
      } else if (finish_ || cancelled_) {
        finished_ = true;
        status = finish_ ? *finish_ : grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      } else {
        return;
      }
      reactor = reactor_;
    }
    // Outside the lock: gRPC may run reactions inline. `current_` is untouched until OnWriteDone.
    if (write) {
      reactor->StartWrite(&current_);
    } else {
      reactor->Finish(std::move(status));
    }
  }

  void OnWriteDone(bool ok) {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) cancelled_ = true;
    }
    if (!ok) RunHook();
    Pump();
  }

  void OnCancel() {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    RunHook();
    Pump();
  }

  void OnDone() {
    {
      absl::MutexLock lock(&mu_);
      reactor_ = nullptr;
      queue_.clear();
    }
    RunHook();
  }

  void RunHook() {
    std::function<void()> hook;
    {
      absl::MutexLock lock(&mu_);
      if (hook_ran_) return;
      hook_ran_ = true;
      hook = std::move(hook_);
    }
    if (hook) hook();
  }

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  QueuedWriteReactor<Msg>* reactor_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::deque<Msg> queue_ ABSL_GUARDED_BY(mu_);
  Msg current_;  // the message being written; owned by the write in flight while writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool sent_metadata_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
  std::function<void()> hook_ ABSL_GUARDED_BY(mu_);
  bool hook_ran_ ABSL_GUARDED_BY(mu_) = false;
  size_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

template <typename Msg>
class QueuedWriteReactor final : public grpc::ServerWriteReactor<Msg> {
 public:
  /// A new reactor (returned to gRPC, which owns it until OnDone) and the handle that feeds it.
  static std::pair<QueuedWriteReactor*, std::shared_ptr<StreamWriter<Msg>>> Create(size_t max_queued = 10000) {
    auto writer = std::make_shared<StreamWriter<Msg>>(max_queued);
    auto* reactor = new QueuedWriteReactor(writer);
    return {reactor, writer};
  }

  void OnWriteDone(bool ok) override { writer_->OnWriteDone(ok); }
  void OnCancel() override { writer_->OnCancel(); }
  void OnDone() override {
    writer_->OnDone();
    delete this;
  }

 private:
  explicit QueuedWriteReactor(std::shared_ptr<StreamWriter<Msg>> writer) : writer_(std::move(writer)) {
    writer_->Attach(this);
  }

  std::shared_ptr<StreamWriter<Msg>> writer_;
};

}  // namespace accel::daemon::rpc
