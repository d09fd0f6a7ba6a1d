#include "dist/watchdog.h"

#include <algorithm>
#include <stdexcept>

namespace torchless::dist {
namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Watchdog::Watchdog(std::chrono::milliseconds timeout, OnTimeout on_timeout)
    : timeout_(timeout), on_timeout_(std::move(on_timeout)) {
  if (timeout_.count() <= 0) throw std::invalid_argument("watchdog: the timeout must be positive");
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::arm(const char* what, uint64_t sequence) {
  what_.store(what, std::memory_order_relaxed);
  sequence_.store(sequence, std::memory_order_relaxed);
  armed_at_ns_.store(std::max<int64_t>(now_ns(), 1), std::memory_order_release);
}

void Watchdog::disarm() { armed_at_ns_.store(0, std::memory_order_release); }

void Watchdog::run() {
  // Polling a few times per timeout keeps arm() free of locks and wakes
  // the thread rarely (at most every 200 ms: nothing next to the training).
  const auto poll = std::clamp(timeout_ / 8, std::chrono::milliseconds(1), std::chrono::milliseconds(200));
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, poll, [this] { return stop_; })) {
    const int64_t at = armed_at_ns_.load(std::memory_order_acquire);
    if (at == 0) continue;
    const double waited = static_cast<double>(now_ns() - at) * 1e-9;
    if (waited * 1000.0 < static_cast<double>(timeout_.count())) continue;
    const char* what = what_.load(std::memory_order_relaxed);
    const uint64_t seq = sequence_.load(std::memory_order_relaxed);
    // Only if the same section is still armed (not a new one that began meanwhile).
    if (armed_at_ns_.load(std::memory_order_acquire) != at) continue;
    lock.unlock();
    on_timeout_(what ? what : "a collective", seq, waited);
    lock.lock();
    int64_t expected = at;
    armed_at_ns_.compare_exchange_strong(expected, 0);
  }
}

}  // namespace torchless::dist
