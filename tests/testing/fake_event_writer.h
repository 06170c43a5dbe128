// FakeEventWriter: an in-memory storage::EventWriter for handler tests. It records what is
// submitted and leaves every write pending until the test completes it, so a test can check
// that nothing is answered before the commit.
//
// Thread-safety: none; use from the test's thread only.
#ifndef HOOKVAULT_TESTS_TESTING_FAKE_EVENT_WRITER_H_
#define HOOKVAULT_TESTS_TESTING_FAKE_EVENT_WRITER_H_

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "storage/event.h"
#include "storage/event_writer.h"
#include "storage/status.h"

namespace hookvault::testing {

class FakeEventWriter : public storage::EventWriter {
 public:
  struct Pending {
    storage::IngestRecord record;
    storage::WriteCallback done;
    bool completed = false;
  };

  // Refuses (kUnavailable, callback never called) every later SubmitEvent while true.
  void set_refuse_events(bool refuse) { refuse_events_ = refuse; }
  // Refuses every later SubmitLog while true.
  void set_refuse_logs(bool refuse) { refuse_logs_ = refuse; }
  void set_healthy(bool healthy) { healthy_ = healthy; }

  storage::Status SubmitEvent(storage::IngestRecord record, storage::WriteCallback done) override {
    ++event_submissions_;
    if (refuse_events_) return storage::Status::Unavailable("fake: refused");
    events_.push_back(Pending{std::move(record), std::move(done)});
    return storage::Status::Ok();
  }

  storage::Status SubmitLog(storage::RequestLogEntry entry) override {
    if (refuse_logs_) return storage::Status::Unavailable("fake: refused");
    logs_.push_back(std::move(entry));
    return storage::Status::Ok();
  }

  storage::Status SubmitProbe(std::function<void(const storage::Status&)> done) override {
    probes_.push_back(std::move(done));
    return storage::Status::Ok();
  }

  bool healthy() const override { return healthy_; }

  // Completes the i-th submitted event as committed with `result`.
  void Commit(size_t i, storage::AppendResult result) {
    Complete(i, storage::Status::Ok(), result);
  }

  // Completes the i-th submitted event as failed with `status` (not OK).
  void Fail(size_t i, storage::Status status) { Complete(i, status, storage::AppendResult{}); }

  // Events accepted by SubmitEvent, in order, completed or not.
  std::vector<Pending>& events() { return events_; }
  // Request-log rows submitted alone (rejected requests, failed commits), in order.
  const std::vector<storage::RequestLogEntry>& logs() const { return logs_; }
  // Every SubmitEvent call, refused ones included.
  int event_submissions() const { return event_submissions_; }
  std::vector<std::function<void(const storage::Status&)>>& probes() { return probes_; }

 private:
  void Complete(size_t i, const storage::Status& status, const storage::AppendResult& result) {
    if (i >= events_.size()) throw std::out_of_range("FakeEventWriter: no such event");
    Pending& p = events_[i];
    if (p.completed) throw std::logic_error("FakeEventWriter: event completed twice");
    p.completed = true;
    p.done(status, result);
  }

  bool refuse_events_ = false;
  bool refuse_logs_ = false;
  bool healthy_ = true;
  int event_submissions_ = 0;
  std::vector<Pending> events_;
  std::vector<storage::RequestLogEntry> logs_;
  std::vector<std::function<void(const storage::Status&)>> probes_;
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_FAKE_EVENT_WRITER_H_
