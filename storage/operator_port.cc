#include "storage/operator_port.h"

#include <utility>

namespace hookvault::storage {

Status SerializedOperatorPort::Reprocess(ReprocessSpec spec, AuditActor who, ReprocessDone done) {
  return serializer_.SubmitRequestTask(
      [this, spec = std::move(spec), who = std::move(who), done = std::move(done)] {
        StatusOr<ReprocessResult> result = store_.Reprocess(spec, who, clock_.NowMicros());
        if (result.ok() && result->requeued > 0 && on_requeued_) on_requeued_();
        done(std::move(result));
      });
}

Status SerializedOperatorPort::AckConsumer(std::string name, int64_t seq, AckDone done) {
  return serializer_.SubmitRequestTask([this, name = std::move(name), seq, done = std::move(done)] {
    done(store_.AckConsumer(name, seq, clock_.NowMicros()));
  });
}

}  // namespace hookvault::storage
