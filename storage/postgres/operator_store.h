// PLACEHOLDER (pgwrite's branch only, until pgops' real file lands): compiles stores.cc.
#ifndef HOOKVAULT_STORAGE_POSTGRES_OPERATOR_STORE_H_
#define HOOKVAULT_STORAGE_POSTGRES_OPERATOR_STORE_H_

#include <memory>
#include <string>

#include "storage/operator_store.h"
#include "storage/postgres/connection.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe. A placeholder whose every write fails with kInternal.
class PostgresOperatorStore final : public OperatorStore {
 public:
  static StatusOr<std::unique_ptr<PostgresOperatorStore>> Create(pg::Connection&) {
    return std::unique_ptr<PostgresOperatorStore>(new PostgresOperatorStore());
  }
  StatusOr<ReprocessProgress> ReprocessChunk(const ReprocessSpec&, const AuditActor&,
                                             const ReprocessProgress&, size_t, int64_t) override {
    return Status::Internal("placeholder");
  }
  StatusOr<int64_t> AuditDryRun(const ReprocessSpec&, const AuditActor&, int64_t,
                                int64_t) override {
    return Status::Internal("placeholder");
  }
  StatusOr<int64_t> AuditAction(const AuditActor&, const std::string&, const std::string&,
                                int64_t) override {
    return Status::Internal("placeholder");
  }
  StatusOr<int64_t> AckConsumer(const std::string&, int64_t, int64_t) override {
    return Status::Internal("placeholder");
  }
  StatusOr<int64_t> StartAuditChain(std::string, int64_t) { return Status::Internal("placeholder"); }

 private:
  PostgresOperatorStore() = default;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_OPERATOR_STORE_H_
