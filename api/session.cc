#include "api/session.h"

#include "api/params.h"
#include "api/render.h"

namespace hookvault::api {

std::string RenderSession(const Principal& who) {
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteKey(w, "name");
  WriteString(w, who.name);
  WriteKey(w, "role");
  WriteString(w, RoleName(who.role));
  WriteKey(w, "may");
  w.StartObject();
  WriteKey(w, "read");
  w.Bool(Allows(who.role, Permission::kRead));
  WriteKey(w, "reprocess");
  w.Bool(Allows(who.role, Permission::kReprocess));
  WriteKey(w, "pull");
  w.Bool(Allows(who.role, Permission::kPull));
  WriteKey(w, "consume");
  w.Bool(Allows(who.role, Permission::kConsume));
  w.EndObject();
  WriteKey(w, "consumers");
  w.StartArray();
  if (who.role == Role::kConsumer) {
    for (const std::string& c : who.consumers) WriteString(w, c);
  }
  w.EndArray();
  w.EndObject();
  return out;
}

void SessionHandler::Session(const ApiRequest& req, const Principal& who,
                             Responder respond) const {
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  respond(JsonOk(RenderSession(who)));
}

}  // namespace hookvault::api
