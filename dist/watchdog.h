#pragma once
// A thread that ends the process when a guarded section (a collective) runs
// longer than a limit. MPI has no timeout on a collective: a rank that hangs,
// or takes another path through the code, leaves the others waiting forever.
// arm()/disarm() take no lock and allocate nothing, so they can wrap every
// collective of a training step.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace torchless::dist {

class Watchdog {
 public:
  /// Called on the watchdog's thread with the armed section's `what` and how
  /// long it has waited. Meant to end the process; if it returns, the
  /// watchdog disarms and keeps watching.
  using OnTimeout = std::function<void(const char* what, uint64_t sequence, double waited_s)>;

  /// Starts the thread. `timeout` must be positive; throws std::invalid_argument otherwise.
  Watchdog(std::chrono::milliseconds timeout, OnTimeout on_timeout);
  /// Stops the thread (promptly: it waits on a condition variable).
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// A section starts; `what` must outlive it. `sequence` numbers it in the message.
  void arm(const char* what, uint64_t sequence);
  /// The section ended in time.
  void disarm();
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  void run();

  const std::chrono::milliseconds timeout_;
  const OnTimeout on_timeout_;
  std::atomic<int64_t> armed_at_ns_{0};  // steady_clock; 0 while disarmed
  std::atomic<const char*> what_{nullptr};
  std::atomic<uint64_t> sequence_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

/// Arms `w` (if not null) for the scope.
class WatchdogScope {
 public:
  WatchdogScope(Watchdog* w, const char* what, uint64_t sequence) : w_(w) {
    if (w_) w_->arm(what, sequence);
  }
  ~WatchdogScope() {
    if (w_) w_->disarm();
  }
  WatchdogScope(const WatchdogScope&) = delete;
  WatchdogScope& operator=(const WatchdogScope&) = delete;

 private:
  Watchdog* w_;
};

}  // namespace torchless::dist
