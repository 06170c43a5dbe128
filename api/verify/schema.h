// JSON Schema validation of ingested payloads, per source and event-type glob (the config's
// sources[].schemas), on RapidJSON's validator (rapidjson/schema.h; Debian 12 ships 1.1.0,
// which implements draft-04: README, Validating payloads against a JSON Schema).
//
// Thread-safety: a PayloadSchema is immutable once loaded; Validate() may be called from any
// number of threads at once (each call has its own validator).
#ifndef HOOKVAULT_API_VERIFY_SCHEMA_H_
#define HOOKVAULT_API_VERIFY_SCHEMA_H_

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace hookvault::api {

// One way a payload breaks its schema: where (a JSON pointer into the payload, "" for the
// root), which keyword ("type", "required", "minimum", ...) and a sentence for people.
struct SchemaError {
  std::string pointer;
  std::string keyword;
  std::string message;
};

class PayloadSchema {
 public:
  // Loads the schema in `file`. Returns kInvalidArgument whose message names the file and the
  // reason (cannot read, not JSON with the offset, not a schema, a $ref that does not resolve).
  static storage::StatusOr<std::shared_ptr<const PayloadSchema>> LoadFile(const std::string& file);
  // The same from text; `name` stands for the file in messages.
  static storage::StatusOr<std::shared_ptr<const PayloadSchema>> Parse(std::string_view json,
                                                                      std::string_view name);

  // Returns the payload's violations: empty when it is valid. At most kMaxSchemaErrors.
  std::vector<SchemaError> Validate(const rapidjson::Value& payload) const;

  virtual ~PayloadSchema() = default;

 protected:
  PayloadSchema() = default;
};

// Most violations reported for one payload.
inline constexpr size_t kMaxSchemaErrors = 16;

// A source's "schemas" entry: payloads whose event type matches `glob` (GlobMatches: exact or
// trailing '*') are validated against `schema`. A source's rules are tried in config order;
// the first that matches applies, and a type no rule matches is not validated.
struct SchemaRule {
  std::string glob;
  std::string file;  // as configured, for messages
  std::shared_ptr<const PayloadSchema> schema;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_VERIFY_SCHEMA_H_
