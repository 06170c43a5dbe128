// Signs webhook requests the way the providers' own libraries do, for
// tests/integration/provider_signature_test.cc (which runs `node sign.mjs REQUESTS.json`).
//
// REQUESTS.json is an array of {"scheme", "secret", "payload", "timestamp" (Unix seconds),
// "id" (standard-webhooks)}; printed is a JSON array with, for each, the headers to send:
//   github             @octokit/webhooks-methods sign()                 X-Hub-Signature-256
//   stripe             stripe.webhooks.generateTestHeaderString()        Stripe-Signature
//   standard-webhooks  new Webhook(secret).sign(id, date, payload)       webhook-id,
//                                                                        webhook-timestamp,
//                                                                        webhook-signature
// The packages are the versions package-lock.json pins (installed by scripts/setup); nothing
// here computes a signature itself.
import { readFileSync } from "node:fs";

import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";

// The API key is never used: generateTestHeaderString makes no request.
const stripe = new Stripe("sk_test_unused");

async function headersFor(r) {
  switch (r.scheme) {
    case "github":
      return { "X-Hub-Signature-256": await githubSign(r.secret, r.payload) };
    case "stripe":
      return {
        "Stripe-Signature": stripe.webhooks.generateTestHeaderString({
          payload: r.payload,
          secret: r.secret,
          timestamp: r.timestamp,
        }),
      };
    case "standard-webhooks":
      return {
        "webhook-id": r.id,
        "webhook-timestamp": String(r.timestamp),
        "webhook-signature": new Webhook(r.secret).sign(r.id, new Date(r.timestamp * 1000), r.payload),
      };
    default:
      throw new Error(`unknown scheme ${r.scheme}`);
  }
}

const requests = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = [];
for (const r of requests) out.push(await headersFor(r));
process.stdout.write(JSON.stringify(out));
