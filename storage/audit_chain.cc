// The audit chain's canonical encoding and hash. Changing either invalidates every stored
// chain: VerifyAudit would report the first row as bad.
#include "storage/audit_chain.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>

#include "storage/base/crypto.h"
#include "storage/base/encoding.h"

namespace hookvault::storage {
namespace {

void AppendField(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

void AppendField(std::string& out, int64_t value) { AppendField(out, std::to_string(value)); }

// Returns the hex HMAC-SHA256 of `data` under `key`, or "" if OpenSSL fails.
std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
           &length) == nullptr) {
    return std::string();
  }
  return base::HexEncode(std::string_view(reinterpret_cast<const char*>(mac), length));
}

// Compares two hashes without leaking where they differ (a keyed hash is a MAC).
bool HashesEqual(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string AuditCanonical(const AuditRow& row) {
  std::string out;
  AppendField(out, row.id);
  AppendField(out, row.at);
  AppendField(out, row.actor);
  AppendField(out, row.role);
  AppendField(out, row.action);
  AppendField(out, row.target_json);
  AppendField(out, row.matched);
  AppendField(out, row.requeued);
  AppendField(out, row.reason);
  return out;
}

std::string AuditHash(const std::string& prev_hash, const AuditRow& row, std::string_view key) {
  // Empty if OpenSSL fails, which never matches a stored hash: verification fails loudly.
  if (key.empty()) return base::Sha256Hex({prev_hash, AuditCanonical(row)});
  std::string mac = HmacSha256Hex(key, prev_hash + AuditCanonical(row));
  if (mac.empty()) return mac;
  return std::string(kKeyedAuditHashPrefix) + mac;
}

bool IsKeyedAuditHash(std::string_view hash) {
  return hash.substr(0, kKeyedAuditHashPrefix.size()) == kKeyedAuditHashPrefix;
}

Status CheckAuditKeyFor(const AuditRow& last, std::string_view key) {
  if (!IsKeyedAuditHash(last.hash)) return Status::Ok();
  if (key.empty()) {
    return Status::Unavailable("the audit chain is keyed (row " + std::to_string(last.id) +
                               " has an HMAC hash): set audit.key to the key it was written with");
  }
  if (!HashesEqual(AuditHash(last.prev_hash, last, key), last.hash)) {
    return Status::Unavailable("audit.key is not the key the audit chain was written with (row " +
                               std::to_string(last.id) + " does not verify under it)");
  }
  return Status::Ok();
}

AuditRow AuditKeyAddedRow(const AuditRow& last, int64_t now) {
  AuditRow row;
  row.id = last.id + 1;
  row.at = now;
  row.actor = "hookvault";
  row.role = "system";
  row.action = "audit_key_added";
  row.target_json = "{}";
  row.reason = "audit.key configured: rows from this one on are keyed";
  row.prev_hash = last.hash;
  return row;
}

void AuditChainWalk::Add(const AuditRow& row) {
  if (++v_.rows == 1) first_id_ = row.id;
  bool keyed = IsKeyedAuditHash(row.hash);
  if (keyed && !v_.keyed_from) v_.keyed_from = row.id;
  bool good = row.prev_hash == prev_hash_;
  if (keyed) {
    // Without the key a keyed row cannot be checked.
    good = good && !key_.empty() && HashesEqual(AuditHash(prev_hash_, row, key_), row.hash);
  } else {
    // With a key, an unkeyed row is accepted only before the first keyed row.
    good = good && !(v_.keyed_from && !key_.empty()) &&
           HashesEqual(AuditHash(prev_hash_, row), row.hash);
  }
  if (v_.ok && !good) {
    v_.ok = false;
    v_.first_bad = row.id;
  }
  // Chained on the stored hash: a row edited in place breaks its own hash only, a row removed
  // or inserted breaks the link of the row after it.
  prev_hash_ = row.hash;
  v_.head = row.hash;
}

AuditVerification AuditChainWalk::Finish() const {
  AuditVerification v = v_;
  // With a key, a server has made the chain's tail keyed at its start (AuditKeyAddedRow): a
  // chain with no keyed row was rewritten without the key. The first row is named.
  if (v.ok && !key_.empty() && v.rows > 0 && !v.keyed_from) {
    v.ok = false;
    v.first_bad = first_id_;
  }
  return v;
}

}  // namespace hookvault::storage
