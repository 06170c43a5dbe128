// The operator console's serving: the embedded assets through the handler (unit) and through
// the real binary over real HTTP (every asset with its content type, the security headers, ETag
// → 304, unknown file 404, /console → 301), since the headers must survive the Pistache adapter.
#include "server/web/console.h"

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::server {
namespace {

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(HOOKVAULT_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string HeaderOf(const api::ApiResponse& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

api::ApiRequest Get(std::string path, std::string if_none_match = "") {
  api::ApiRequest req;
  req.method = "GET";
  req.path = std::move(path);
  if (!if_none_match.empty()) req.headers.emplace_back("if-none-match", if_none_match);
  return req;
}

TEST(ConsoleAssetsTest, EmbedsTheListedFilesByteForByte) {
  std::map<std::string, std::string> sources = {
      {"index.html", "server/web/index.html"},
      {"app.js", "server/web/app.js"},
      {"console.css", "server/web/console.css"},
      {"uPlot.iife.min.js", "server/web/node_modules/uplot/dist/uPlot.iife.min.js"},
      {"uPlot.min.css", "server/web/node_modules/uplot/dist/uPlot.min.css"},
  };
  for (const auto& [name, path] : sources) {
    const ConsoleAsset* asset = FindConsoleAsset(name);
    ASSERT_NE(asset, nullptr) << name;
    EXPECT_EQ(asset->body, ReadSource(path)) << name;
  }
  std::set<std::string_view> etags;
  for (const ConsoleAsset& asset : ConsoleAssets()) {
    EXPECT_TRUE(asset.etag.size() > 2 && asset.etag.front() == '"' && asset.etag.back() == '"')
        << asset.name << ": " << asset.etag;
    etags.insert(asset.etag);
  }
  EXPECT_EQ(etags.size(), ConsoleAssets().size()) << "two assets share an ETag";
  EXPECT_EQ(FindConsoleAsset("package.json"), nullptr);  // only the listed files
}

TEST(ConsoleAssetsTest, IndexReferencesOnlyEmbeddedFiles) {
  // Every src= and href= of the page that is not a hash route or data: names an asset.
  std::string_view html = FindConsoleAsset("index.html")->body;
  for (std::string_view attr : {"src=\"", "href=\""}) {
    for (size_t pos = html.find(attr); pos != std::string_view::npos;
         pos = html.find(attr, pos + 1)) {
      size_t start = pos + attr.size();
      std::string_view ref = html.substr(start, html.find('"', start) - start);
      if (ref.starts_with("#") || ref.starts_with("data:")) continue;
      EXPECT_NE(FindConsoleAsset(ref), nullptr) << "index.html refers to " << ref;
    }
  }
}

// Payloads and headers are attacker-controlled, and the page renders them: only as text. The
// console's own code (and the page) never uses an API that parses markup or runs a string,
// and the page has no inline script, style or handler that the CSP would have to allow.
TEST(ConsoleAssetsTest, NoMarkupOrCodeFromStrings) {
  constexpr std::string_view kSinks[] = {".innerHTML", ".outerHTML", "insertAdjacentHTML(",
                                         "document.write(", "document.writeln(", "eval(", "new Function(",
                                         "setAttribute('on", "setAttribute(\"on", "srcdoc"};
  int scripts = 0;
  for (const ConsoleAsset& asset : ConsoleAssets()) {
    if (!asset.content_type.starts_with("text/javascript")) continue;
    ++scripts;
    for (std::string_view sink : kSinks) {
      EXPECT_EQ(asset.body.find(sink), std::string_view::npos) << asset.name << " uses " << sink;
    }
  }
  EXPECT_GE(scripts, 3);
  std::string html(FindConsoleAsset("index.html")->body);
  EXPECT_EQ(html.find("<script>"), std::string::npos) << "an inline script";
  EXPECT_EQ(html.find("<style"), std::string::npos) << "an inline style sheet";
  EXPECT_EQ(html.find(" style="), std::string::npos) << "an inline style";
  for (size_t pos = html.find(" on"); pos != std::string::npos; pos = html.find(" on", pos + 1)) {
    size_t end = pos + 3;
    while (end < html.size() && std::isalpha(static_cast<unsigned char>(html[end]))) ++end;
    EXPECT_FALSE(end > pos + 3 && end < html.size() && html[end] == '=')
        << "an inline handler: " << html.substr(pos, end - pos + 1);
  }
}

TEST(ConsoleHandlerTest, ServesAnAssetWithItsHeaders) {
  api::ApiResponse r = ServeConsoleAsset(Get("/console/app.js"), "app.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(r.body, FindConsoleAsset("app.js")->body);
  EXPECT_EQ(HeaderOf(r, "Content-Security-Policy"), kConsoleCsp);
  EXPECT_EQ(HeaderOf(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(HeaderOf(r, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(HeaderOf(r, "X-Frame-Options"), "DENY");
  EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-cache");
  EXPECT_EQ(HeaderOf(r, "ETag"), FindConsoleAsset("app.js")->etag);
}

TEST(ConsoleHandlerTest, EmptyNameIsTheIndex) {
  api::ApiResponse r = ServeConsoleAsset(Get("/console/"), "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, FindConsoleAsset("index.html")->body);
}

TEST(ConsoleHandlerTest, MatchingIfNoneMatchIs304WithoutBody) {
  std::string etag(FindConsoleAsset("console.css")->etag);
  for (const std::string& header : {etag, "\"other\", " + etag, "W/" + etag, std::string("*")}) {
    api::ApiResponse r = ServeConsoleAsset(Get("/console/console.css", header), "console.css");
    EXPECT_EQ(r.status, 304) << header;
    EXPECT_TRUE(r.body.empty()) << header;
    EXPECT_EQ(HeaderOf(r, "ETag"), etag);
    EXPECT_EQ(HeaderOf(r, "Content-Security-Policy"), kConsoleCsp);
  }
  api::ApiResponse stale = ServeConsoleAsset(Get("/console/console.css", "\"stale\""),
                                             "console.css");
  EXPECT_EQ(stale.status, 200);
  EXPECT_FALSE(stale.body.empty());
}

TEST(ConsoleHandlerTest, UnknownAssetIs404WithTheHeaders) {
  for (std::string_view name : {"nope.js", "..", "node_modules", "package.json"}) {
    api::ApiResponse r = ServeConsoleAsset(Get("/console/x"), name);
    EXPECT_EQ(r.status, 404) << name;
    EXPECT_EQ(r.content_type, "application/problem+json");
    EXPECT_EQ(HeaderOf(r, "Content-Security-Policy"), kConsoleCsp);
  }
}

TEST(ConsoleHandlerTest, RedirectsToTheSlash) {
  api::ApiResponse r = RedirectToConsole();
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(HeaderOf(r, "Location"), "/console/");
  EXPECT_EQ(HeaderOf(r, "Content-Security-Policy"), kConsoleCsp);
}

// Over the real binary: the router takes /console, /console/ and /console/<asset>, no token.
class ConsoleHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string config = R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir_.path() +
                         R"(", "sources": [{"name": "s", "tokens": ["console-source-token-0123"]}],
      "api_tokens": [{"name": "ops", "token": "console-api-token-0123456789", "role": "operator"}]})";
    server_ = std::make_unique<testing::ServerProcess>(
        std::vector<std::string>{"serve", "--config", dir_.Write("config.json", config)},
        dir_.File("server.log"));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
  testing::HttpClient client_;
};

TEST_F(ConsoleHttpTest, ServesEveryAssetWithItsContentTypeAndHeaders) {
  for (const ConsoleAsset& asset : ConsoleAssets()) {
    std::string path = asset.name == "index.html" ? "/console/" : "/console/" + std::string(asset.name);
    testing::HttpResult r = client_.Request("GET", server_->Url(path));
    ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.body, asset.body) << path;
    std::string type = r.headers["content-type"];
    EXPECT_EQ(type.substr(0, type.find(';')),
              std::string(asset.content_type.substr(0, asset.content_type.find(';'))))
        << path;
    EXPECT_EQ(r.headers["content-security-policy"], kConsoleCsp) << path;
    EXPECT_EQ(r.headers["x-content-type-options"], "nosniff") << path;
    EXPECT_EQ(r.headers["referrer-policy"], "no-referrer") << path;
    EXPECT_EQ(r.headers["x-frame-options"], "DENY") << path;
    EXPECT_EQ(r.headers["cache-control"], "no-cache") << path;
    EXPECT_EQ(r.headers["etag"], asset.etag) << path;

    testing::HttpResult again =
        client_.Request("GET", server_->Url(path), {{"If-None-Match", r.headers["etag"]}});
    EXPECT_EQ(again.status, 304) << path;
    EXPECT_TRUE(again.body.empty()) << path;
  }
}

TEST_F(ConsoleHttpTest, IndexIsHtmlAndTheBareAddressRedirects) {
  testing::HttpResult index = client_.Request("GET", server_->Url("/console/"));
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.headers["content-type"].substr(0, 9), "text/html");
  EXPECT_EQ(index.body, FindConsoleAsset("index.html")->body);

  testing::HttpResult bare = client_.Request("GET", server_->Url("/console"));
  EXPECT_EQ(bare.status, 301);
  EXPECT_EQ(bare.headers["location"], "/console/");
  EXPECT_EQ(bare.headers["content-security-policy"], kConsoleCsp);
}

TEST_F(ConsoleHttpTest, UnknownAssetIs404AndOtherTrailingSlashesStay404) {
  testing::HttpResult missing = client_.Request("GET", server_->Url("/console/missing.js"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers["content-security-policy"], kConsoleCsp);
  // Only /console/ itself takes a trailing slash; the API's paths are still exact.
  EXPECT_EQ(client_.Request("GET", server_->Url("/console/app.js/")).status, 404);
  EXPECT_EQ(client_.Request("GET", server_->Url("/healthz/")).status, 404);
  // The console's files are public; the API behind them is not.
  EXPECT_EQ(client_.Request("GET", server_->Url("/api/v1/events")).status, 401);
}

}  // namespace
}  // namespace hookvault::server
