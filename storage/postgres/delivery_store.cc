#include "storage/postgres/delivery_store.h"

#include <algorithm>
#include <numeric>
#include <string_view>
#include <utility>

#include "storage/postgres/ops_sql.h"
#include "storage/postgres/write_pipeline.h"
#include "storage/postgres/write_sql.h"

namespace hookvault::storage {

using pg::Annotated;
using pg::BinaryArray;
using pg::Params;
using pg::WritePipeline;

namespace {

// The ids as a bigint[] literal ("{1,2,3}") for `<> ALL ($n::bigint[])`.
std::string BigintArray(std::span<const int64_t> ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  out += '}';
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<PostgresDeliveryStore>> PostgresDeliveryStore::Create(
    pg::Connection& conn, const Clock& clock, std::map<std::string, int> destination_concurrency) {
  const std::pair<const char*, std::string_view> statements[] = {
      {pgsql::kPreparedLockDestinationClaims, pgsql::kLockDestinationClaims},
      {pgsql::kPreparedClaimDue, pgsql::kClaimDue},
      {pgsql::kPreparedNextDue, pgsql::kNextDue},
      {pgsql::kPreparedApplyOutcome, pgsql::kApplyOutcome},
      {pgsql::kPreparedLockEventsOfDeliveries, pgsql::kLockEventsOfDeliveries},
      {pgsql::kPreparedRefreshEventStatus, pgsql::kRefreshEventStatus},
      {pgsql::kPreparedCountPending, pgsql::kCountPending},
      {pgsql::kPreparedOldestPending, pgsql::kOldestPending},
      {pgsql::kPreparedLockOrderKeysOfDeliveries, pgsql::kLockOrderKeysOfDeliveries},
      {pgsql::kPreparedReleaseNextHeld, pgsql::kReleaseNextHeld},
  };
  for (const auto& [name, sql] : statements) {
    if (Status s = conn.Prepare(name, sql); !s.ok()) {
      return Status::Unavailable("prepare delivery store statements: " + s.message());
    }
  }
  return std::unique_ptr<PostgresDeliveryStore>(
      new PostgresDeliveryStore(conn, clock, std::move(destination_concurrency)));
}

PostgresDeliveryStore::PostgresDeliveryStore(pg::Connection& conn, const Clock& clock,
                                             std::map<std::string, int> destination_concurrency)
    : conn_(conn), clock_(clock), concurrency_(std::move(destination_concurrency)) {}

std::optional<int> PostgresDeliveryStore::CapOf(const std::string& destination) const {
  auto it = concurrency_.find(destination);
  if (it == concurrency_.end()) return std::nullopt;
  return it->second;
}

StatusOr<std::vector<DueDelivery>> PostgresDeliveryStore::ClaimDue(const std::string& destination,
                                                                   int limit, int64_t now,
                                                                   int64_t lease_until,
                                                                   std::span<const int64_t> held) {
  std::vector<DueDelivery> due;
  if (limit <= 0) return due;
  const std::optional<int> cap = CapOf(destination);
  auto pipeline = WritePipeline::Start(conn_, WritePipeline::Mode::kTransaction);
  if (!pipeline.ok()) return Annotated(pipeline.status(), "claim deliveries");
  if (cap) {
    Params lock;
    lock.Add(destination);
    (void)pipeline->Queue(pgsql::kPreparedLockDestinationClaims, lock);
  }
  Params claim;
  claim.Add(destination);
  claim.Add(now).Add(static_cast<int64_t>(limit)).Add(lease_until - now).Add(BigintArray(held));
  claim.AddOptional(cap ? std::optional<int64_t>(*cap) : std::nullopt);
  (void)pipeline->Queue(pgsql::kPreparedClaimDue, claim);
  auto results = pipeline->Finish("claim deliveries");
  if (!results.ok()) return results.status();
  const pg::Result& r = results->back();
  std::vector<int64_t> next_attempt_at;
  due.reserve(r.rows());
  for (int row = 0; row < r.rows(); ++row) {
    DueDelivery d;
    d.delivery_id = r.GetInt64(row, 0);
    d.lease_token = r.GetInt64(row, 1);
    d.attempt = static_cast<int>(r.GetInt64(row, 2)) + 1;
    d.destination = destination;
    d.event_id = r.GetString(row, 4);
    d.source = r.GetString(row, 5);
    d.event_type = r.GetString(row, 6);
    d.body = r.GetBytes(row, 7);
    d.received_at = r.GetInt64(row, 8);
    due.push_back(std::move(d));
    next_attempt_at.push_back(r.GetInt64(row, 3));
  }
  // UPDATE … RETURNING keeps no order: oldest due first, as the claim chose them.
  std::vector<size_t> order(due.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::pair(next_attempt_at[a], due[a].delivery_id) <
           std::pair(next_attempt_at[b], due[b].delivery_id);
  });
  std::vector<DueDelivery> sorted;
  sorted.reserve(due.size());
  for (size_t i : order) sorted.push_back(std::move(due[i]));
  std::vector<int64_t>& in_flight = in_flight_[destination];
  in_flight.assign(held.begin(), held.end());
  for (const DueDelivery& d : sorted) in_flight.push_back(d.delivery_id);
  return sorted;
}

StatusOr<std::optional<int64_t>> PostgresDeliveryStore::NextDue(const std::string& destination) {
  auto pipeline = WritePipeline::Start(conn_, WritePipeline::Mode::kRead);
  if (!pipeline.ok()) return Annotated(pipeline.status(), "next due delivery");
  Params params;
  params.Add(destination);
  params.Add(clock_.NowMicros());
  auto in_flight = in_flight_.find(destination);
  params.Add(BigintArray(in_flight == in_flight_.end()
                             ? std::span<const int64_t>()
                             : std::span<const int64_t>(in_flight->second)));
  (void)pipeline->Queue(pgsql::kPreparedNextDue, params);
  auto results = pipeline->Finish("next due delivery");
  if (!results.ok()) return results.status();
  const pg::Result& r = results->front();
  if (r.rows() != 1) return Status::Internal("next due delivery: no row");
  std::optional<int64_t> next = r.GetOptionalInt64(0, 0);
  if (std::optional<int64_t> leased = r.GetOptionalInt64(0, 1)) {
    next = std::min(next.value_or(*leased), *leased);
  }
  const std::optional<int> cap = CapOf(destination);
  const std::optional<int64_t> first_lease_end = r.GetOptionalInt64(0, 2);
  if (next && cap && first_lease_end && r.GetInt64(0, 3) >= *cap) {
    // The cap is taken by other nodes' attempts (or this node's): nothing can be claimed before
    // a lease ends or an outcome frees a place, and polling sooner would only spin.
    next = std::max(*next, *first_lease_end);
  }
  return next;
}

StatusOr<RecordedAttempts> PostgresDeliveryStore::RecordAttempts(
    std::span<const AttemptRecord> attempts) {
  static const std::string kStatusNames[] = {"succeeded", "pending", "failed"};
  RecordedAttempts result;
  if (attempts.empty()) return result;

  // In delivery id order, all outcomes first, then the events (locked in seq order, see
  // kLockEventsOfDeliveries) and their statuses: two nodes' batches, and an operator's requeue,
  // then lock deliveries and events in one order and cannot deadlock each other.
  std::vector<size_t> order(attempts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return attempts[a].delivery_id < attempts[b].delivery_id;
  });

  auto pipeline = WritePipeline::Start(conn_, WritePipeline::Mode::kTransaction);
  if (!pipeline.ok()) return Annotated(pipeline.status(), "record attempts");
  const int64_t now = clock_.NowMicros();
  // A success may release the next delivery of its ordering key: the keys' locks first, before
  // any row lock (write_sql.h, "Ordering").
  std::vector<int64_t> successes;
  for (size_t i : order) {
    if (attempts[i].next == AttemptRecord::Next::kSucceeded) {
      successes.push_back(attempts[i].delivery_id);
    }
  }
  int first_outcome = 0;  // the index of the first kApplyOutcome result
  if (!successes.empty()) {
    (void)pipeline->Queue(pgsql::kPreparedLockOrderKeysOfDeliveries,
                          Params().Add(BigintArray(successes)));
    first_outcome = 1;
  }
  for (size_t i : order) {
    const AttemptRecord& a = attempts[i];
    const bool success = a.next == AttemptRecord::Next::kSucceeded;
    Params params;
    params.Add(a.delivery_id);
    params.Add(kStatusNames[static_cast<int>(a.next)]);
    params.Add(a.next == AttemptRecord::Next::kRetry ? a.next_attempt_at : now);
    if (success) {
      params.AddNull();
    } else if (a.error.empty()) {
      params.Add("HTTP " + std::to_string(a.http_status));
    } else {
      params.Add(a.error);
    }
    params.Add(now).Add(a.lease_token).Add(static_cast<int64_t>(a.number)).Add(a.started_at);
    params.Add(a.duration_us);
    params.AddOptional(a.http_status > 0 ? std::optional<int64_t>(a.http_status) : std::nullopt);
    if (a.error.empty()) {
      params.AddNull();
    } else {
      params.Add(a.error);
    }
    params.AddBytes(a.response_excerpt);
    params.Add(success ? "success" : "failure");
    (void)pipeline->Queue(pgsql::kPreparedApplyOutcome, params);
  }
  std::string ids = "{";
  for (size_t i : order) {
    ids += (ids.size() > 1 ? "," : "") + std::to_string(attempts[i].delivery_id);
  }
  ids += "}";
  // A stale success changed nothing: its release finds the delivery still open and not held,
  // and releases nothing.
  for (int64_t id : successes) {
    (void)pipeline->Queue(pgsql::kPreparedReleaseNextHeld, Params().Add(id).Add(now));
  }
  (void)pipeline->Queue(pgsql::kPreparedLockEventsOfDeliveries, Params().Add(ids));
  for (size_t i : order) {
    (void)pipeline->Queue(pgsql::kPreparedRefreshEventStatus,
                          Params().Add(attempts[i].delivery_id));
  }
  auto results = pipeline->Finish("record attempts");
  if (!results.ok()) return results.status();
  std::vector<bool> applied(attempts.size(), false);
  for (size_t j = 0; j < order.size(); ++j) {
    const pg::Result& r = (*results)[first_outcome + j];
    applied[order[j]] = r.rows() == 1 && r.GetInt64(0, 0) == 1;
  }
  for (size_t i = 0; i < attempts.size(); ++i) {
    if (applied[i]) {
      ++result.applied;
    } else {
      result.stale.push_back(attempts[i].delivery_id);
    }
  }
  return result;
}

StatusOr<PendingSummary> PostgresDeliveryStore::Pending() {
  auto pipeline = WritePipeline::Start(conn_, WritePipeline::Mode::kRead);
  if (!pipeline.ok()) return Annotated(pipeline.status(), "pending deliveries");
  (void)pipeline->Queue(pgsql::kPreparedCountPending, Params());
  (void)pipeline->Queue(pgsql::kPreparedOldestPending, Params());
  auto results = pipeline->Finish("pending deliveries");
  if (!results.ok()) return results.status();
  PendingSummary summary;
  const pg::Result& count = (*results)[0];
  for (int row = 0; row < count.rows(); ++row) {
    int64_t n = count.GetInt64(row, 1);
    summary.by_destination[count.GetString(row, 0)] = n;
    summary.count += n;
  }
  const pg::Result& oldest = (*results)[1];
  if (oldest.rows() > 0) summary.oldest_pending_since = oldest.GetInt64(0, 0);
  return summary;
}

StatusOr<int> PostgresDeliveryStore::ReleaseAllLeases() { return 0; }

StatusOr<ReleasedHolds> PostgresDeliveryStore::ReleaseUnorderedHolds(
    std::span<const std::string> ordered_destinations) {
  // Every node runs it at start, and nodes should share the config; one that does not (a
  // rolling deploy, a typo) must at least not release a key in the middle of another node's
  // release or ingest of it: each key's ordering lock first, ascending (write_sql.h, "Ordering").
  BinaryArray names(BinaryArray::kText);
  for (const std::string& name : ordered_destinations) names.Add(name);
  if (conn_.broken()) {
    if (Status s = conn_.Reset(); !s.ok()) return s;
  }
  ReleasedHolds released;
  released.shared = true;
  Status done = pg::InTransaction(conn_, [&]() -> Status {
    auto keys = conn_.Exec(pgsql::kLockUnorderedHoldKeys, Params().AddBytes(names.Encode()));
    if (!keys.ok()) return keys.status();
    if (keys->rows() == 0) return Status::Ok();
    std::vector<int64_t> ids;
    for (int i = 0; i < keys->rows(); ++i) ids.push_back(keys->GetInt64(i, 0));
    auto rows = conn_.Exec(pgsql::kReleaseUnorderedHolds,
                           Params().AddBytes(names.Encode()).Add(pg::ops::Int64ArrayLiteral(ids)));
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->rows(); ++i) {
      released.by_destination[rows->GetString(i, 0)] = static_cast<int>(rows->GetInt64(i, 1));
    }
    return Status::Ok();
  });
  if (!done.ok()) return done;
  return released;
}

}  // namespace hookvault::storage
