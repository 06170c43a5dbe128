// A Clock whose time the test sets. Advance() moves both clocks, as time passing does; Set()
// moves the wall clock alone, as an NTP step or an operator changing the date does.
#ifndef HOOKVAULT_TESTS_TESTING_FAKE_CLOCK_H_
#define HOOKVAULT_TESTS_TESTING_FAKE_CLOCK_H_

#include <atomic>

#include "storage/clock.h"

namespace hookvault::testing {

class FakeClock final : public storage::Clock {
 public:
  explicit FakeClock(int64_t micros = 1'790'000'000'000'000) : now_(micros) {}
  int64_t NowMicros() const override { return now_.load(); }
  int64_t MonotonicMicros() const override { return monotonic_.load(); }
  void Set(int64_t micros) { now_.store(micros); }
  void Advance(int64_t micros) {
    monotonic_.fetch_add(micros);
    now_.fetch_add(micros);
  }

 private:
  std::atomic<int64_t> now_;
  std::atomic<int64_t> monotonic_{1'000'000'000};
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_FAKE_CLOCK_H_
