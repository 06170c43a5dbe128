#include "storage/operator_store.h"

#include <algorithm>

namespace hookvault::storage {

StatusOr<std::vector<DeliveryFilter>> ReprocessFilters(const ReprocessSpec& spec) {
  // Pending deliveries are still being tried and are never selected: an unset status means every
  // final one (skipped too: an operator may send a skipped delivery after all), and a "pending"
  // filter selects nothing (the action is still audited).
  std::vector<std::string> statuses;
  if (!spec.filter.status) {
    statuses = {"failed", "succeeded", "skipped"};
  } else if (*spec.filter.status == "failed" || *spec.filter.status == "succeeded" ||
             *spec.filter.status == "skipped") {
    statuses = {*spec.filter.status};
  } else if (*spec.filter.status != "pending") {
    return Status::InvalidArgument("unknown delivery status: " + *spec.filter.status);
  }
  // The destination list narrows the filter's destination (both must hold).
  std::vector<std::optional<std::string>> destinations;
  if (spec.destinations.empty()) {
    destinations.push_back(spec.filter.destination);
  } else {
    for (const std::string& d : spec.destinations) {
      if (spec.filter.destination && *spec.filter.destination != d) continue;
      if (std::find(destinations.begin(), destinations.end(), d) == destinations.end()) {
        destinations.emplace_back(d);
      }
    }
  }
  std::vector<DeliveryFilter> filters;
  for (const std::string& status : statuses) {
    for (const std::optional<std::string>& destination : destinations) {
      DeliveryFilter filter = spec.filter;
      filter.status = status;
      filter.destination = destination;
      filters.push_back(std::move(filter));
    }
  }
  return filters;
}

StatusOr<ReprocessResult> OperatorStore::Reprocess(const ReprocessSpec& spec, const AuditActor& who,
                                                   int64_t now, size_t max_rows) {
  ReprocessProgress progress;
  while (!progress.done) {
    auto next = ReprocessChunk(spec, who, progress, max_rows, now);
    if (!next.ok()) return next.status();
    progress = *next;
  }
  return ReprocessResult{progress.matched, progress.requeued, progress.audit_id};
}

}  // namespace hookvault::storage
