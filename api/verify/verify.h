// api/verify/: what a source's webhooks must pass beyond its token — the providers' signature
// schemes (signature.h: GitHub, Stripe, Shopify, Standard Webhooks, generic HMAC) and JSON
// Schemas per event type (schema.h, on RapidJSON's draft-04 validator). Part of the api
// library; ingest (api/ingest.h) calls them, the config (server/config.cc) builds them.
//
// May include: storage/ (the core, storage/base/ for HMAC and encodings), RapidJSON, OpenSSL.
#ifndef HOOKVAULT_API_VERIFY_VERIFY_H_
#define HOOKVAULT_API_VERIFY_VERIFY_H_

#include "api/verify/schema.h"
#include "api/verify/signature.h"

#endif  // HOOKVAULT_API_VERIFY_VERIFY_H_
