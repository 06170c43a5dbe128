// A Clock whose time the test sets.
#ifndef HOOKVAULT_TESTS_TESTING_FAKE_CLOCK_H_
#define HOOKVAULT_TESTS_TESTING_FAKE_CLOCK_H_

#include <atomic>

#include "storage/clock.h"

namespace hookvault::testing {

class FakeClock final : public storage::Clock {
 public:
  explicit FakeClock(int64_t micros = 1'790'000'000'000'000) : now_(micros) {}
  int64_t NowMicros() const override { return now_.load(); }
  void Set(int64_t micros) { now_.store(micros); }
  void Advance(int64_t micros) { now_.fetch_add(micros); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_FAKE_CLOCK_H_
