// storage/base/: the small helpers every wing needs once — ASCII strings (trimming, case),
// encodings (hex, base64, base64url) and hashes (SHA-256, constant-time comparison, random
// tokens) — so that none writes its own. Part of the core library.
//
// May include: the C++ standard library, OpenSSL and storage/status.h. Nothing else of ours.
#ifndef HOOKVAULT_STORAGE_BASE_BASE_H_
#define HOOKVAULT_STORAGE_BASE_BASE_H_

#include "storage/base/crypto.h"
#include "storage/base/encoding.h"
#include "storage/base/strings.h"

#endif  // HOOKVAULT_STORAGE_BASE_BASE_H_
