// ServeList: the one shape of every paginated list route of the REST API (events, an event's
// attempts, deliveries, attempts, requests, audit), so that each route states only what is its
// own: its parameters, its filter, its store call, its row and its cursor key.
//
// Thread-safety: ServeList runs on the calling thread and keeps nothing.
#ifndef HOOKVAULT_API_LIST_H_
#define HOOKVAULT_API_LIST_H_

#include <initializer_list>
#include <string_view>
#include <utility>

#include "api/http.h"
#include "api/params.h"
#include "api/problem.h"
#include "api/render.h"
#include "storage/query_store.h"

namespace hookvault::api {

// Answers one page of the list named `list` (also the name its cursors carry):
//   1. the query parameters must be among `params` (the route's `limit` and `cursor` too);
//   2. `read_filter(QueryParams&)` reads the route's filter, then the limit and the cursor are
//      read, and the first invalid parameter is answered as a 400 problem naming it;
//   3. `query(filter, storage::Page)` returns storage::StatusOr<std::vector<Row>> with up to
//      page.limit rows (one more than the caller's limit, telling whether a next page exists);
//      a failure is answered as its problem (ProblemFromStatus: kNotFound is a 404);
//   4. the rows are answered by ListPage with `write_row(JsonWriter&, const Row&)` and the
//      next cursor from `key_of` (a function of the last row, or a pointer to its key member).
template <typename ReadFilter, typename Query, typename WriteRow, typename KeyOf>
void ServeList(const ApiRequest& req, std::string_view list,
               std::initializer_list<std::string_view> params, ReadFilter read_filter, Query query,
               WriteRow write_row, KeyOf key_of, const Responder& respond) {
  QueryParams q(req, params);
  auto filter = read_filter(q);
  int limit = q.Limit();
  auto cursor = q.Cursor(list);
  if (!q.ok()) return respond(q.error());
  auto rows = query(std::as_const(filter), storage::Page{limit + 1, cursor});
  if (!rows.ok()) return respond(ProblemFromStatus(rows.status(), req.path));
  respond(ListPage(std::move(rows).value(), limit, list, write_row, key_of));
}

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_LIST_H_
