// The libpq layer (pg.hpp).
#include "pg.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <optional>

namespace tb::pg {

namespace {
// libpq's messages end with a newline.
std::string trimmed(std::string why) {
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  return why;
}
}  // namespace

Params& Params::add(std::int64_t v) {
  values_.push_back(std::to_string(v));
  null_.push_back(false);
  return *this;
}

Params& Params::add(std::string_view v) {
  // libpq sends text parameters up to their first NUL: a value with one would be cut short.
  if (v.find('\0') != std::string_view::npos) throw Error("a text value holds a NUL byte", "22021");
  values_.emplace_back(v);
  null_.push_back(false);
  return *this;
}

Params& Params::add(const std::optional<std::string>& v) {
  return v ? add(std::string_view(*v)) : add_null();
}

Params& Params::add(const std::optional<std::int64_t>& v) {
  return v ? add(*v) : add_null();
}

Params& Params::add_null() {
  values_.emplace_back();
  null_.push_back(true);
  return *this;
}

std::vector<const char*> Params::pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i) {
    out.push_back(null_[i] ? nullptr : values_[i].c_str());
  }
  return out;
}

std::vector<int> Params::lengths() const {
  std::vector<int> out;
  out.reserve(values_.size());
  for (const auto& v : values_) out.push_back(static_cast<int>(v.size()));
  return out;
}

std::string Result::text(int row, int col) const {
  return std::string(PQgetvalue(r_.get(), row, col),
                     static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
}

std::int64_t Result::int64(int row, int col) const {
  const char* v = PQgetvalue(r_.get(), row, col);
  const char* end = v + PQgetlength(r_.get(), row, col);
  std::int64_t out = 0;
  const auto [ptr, ec] = std::from_chars(v, end, out);
  if (ec != std::errc() || ptr != end) {
    throw Error("not an integer in column " + std::to_string(col) + ": " + std::string(v, end), "");
  }
  return out;
}

std::optional<std::string> Result::opt_text(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return text(row, col);
}

std::optional<std::int64_t> Result::opt_int64(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return int64(row, col);
}

std::int64_t Result::changed() const {
  // PQcmdTuples counts a SELECT's rows too: only writes count as changes.
  const std::string_view tag = PQcmdStatus(r_.get());
  if (tag.rfind("INSERT", 0) != 0 && tag.rfind("UPDATE", 0) != 0 && tag.rfind("DELETE", 0) != 0) {
    return 0;
  }
  const char* n = PQcmdTuples(r_.get());
  std::int64_t out = 0;
  std::from_chars(n, n + std::char_traits<char>::length(n), out);
  return out;
}

namespace {
// Defaults first, so that the URL's own settings win: a connect gives up after 10 s, and a
// server that stops answering (a cut cable, a failover) is noticed within about 30 s instead of
// the system's two hours, so that its locks and the writer are not held for that long.
PGconn* connect(const std::string& conninfo, const std::optional<std::string>& password) {
  const char* keys[] = {"connect_timeout",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "client_encoding",
                        "dbname",
                        password ? "password" : nullptr,
                        nullptr};
  const char* values[] = {"10",
                          "10",
                          "5",
                          "3",
                          "30000",
                          "UTF8",
                          conninfo.c_str(),
                          password ? password->c_str() : nullptr,
                          nullptr};
  return PQconnectdbParams(keys, values, 1);  // 1: dbname may be a whole URI
}
}  // namespace

Conn::Conn(const std::string& conninfo, const std::optional<std::string>& password)
    : c_(connect(conninfo, password), &PQfinish) {
  if (!c_) throw Error("out of memory connecting to PostgreSQL", "");
  // Notices ("relation ... already exists, skipping") go to the debug log, not to stderr.
  PQsetNoticeProcessor(
      c_.get(), [](void*, const char* message) { spdlog::debug("postgresql: {}", message); },
      nullptr);
  if (!ok()) throw Error("cannot connect to PostgreSQL: " + trimmed(PQerrorMessage(c_.get())), "");
}

void Conn::reset() {
  broken_ = false;
  PQreset(c_.get());
  if (!ok()) {
    throw Error("cannot reconnect to PostgreSQL: " + trimmed(PQerrorMessage(c_.get())), "");
  }
}

Result Conn::check(PGresult* r, std::string_view what) {
  Result out(r);
  const auto status = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    total_changes_ += out.changed();
    return out;
  }
  const char* state = r == nullptr ? nullptr : PQresultErrorField(r, PG_DIAG_SQLSTATE);
  const char* constraint = r == nullptr ? nullptr : PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
  const std::string why =
      trimmed(r == nullptr ? PQerrorMessage(c_.get()) : PQresultErrorMessage(r));
  throw Error(std::string(what) + ": " + why, state == nullptr ? "" : state,
              constraint == nullptr ? std::string_view() : std::string_view(constraint));
}

Result Conn::exec(const std::string& sql) {
  ++round_trips_;
  return check(PQexec(c_.get(), sql.c_str()), sql.substr(0, 40));
}

void Conn::prepare(const std::string& name, const std::string& sql) {
  ++round_trips_;
  check(PQprepare(c_.get(), name.c_str(), sql.c_str(), 0, nullptr), "prepare " + name);
}

Result Conn::run(const std::string& name, const Params& params) {
  const auto values = params.pointers();
  const auto lengths = params.lengths();
  ++round_trips_;
  return check(PQexecPrepared(c_.get(), name.c_str(), params.size(), values.data(), lengths.data(),
                              nullptr, 0),
               name);
}

// Pipeline mode. The calls go out with one Sync at the end, so that the server runs them in
// order and answers once; after a failed call it skips the rest (PGRES_PIPELINE_ABORTED) up to
// the Sync. The answers of a batch's calls are small (the reads return at most a batch's rows),
// so the blocking connection cannot deadlock with a server waiting for its answers to be read.
std::vector<Result> Conn::pipeline(const std::vector<Call>& calls) {
  PGconn* c = c_.get();
  const auto lost = [&](std::string_view what) {
    return Error(std::string(what) + ": " + trimmed(PQerrorMessage(c)), "");
  };
  if (PQenterPipelineMode(c) != 1) throw lost("cannot enter pipeline mode");
  ++round_trips_;
  bool sent = true;
  for (const auto& call : calls) {
    if (!call.sql.empty()) {
      sent = PQsendQueryParams(c, call.sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
    } else {
      const auto values = call.params.pointers();
      const auto lengths = call.params.lengths();
      sent = PQsendQueryPrepared(c, call.name.c_str(), call.params.size(), values.data(),
                                 lengths.data(), nullptr, 0) == 1;
    }
    if (!sent) break;
  }
  // Whatever leaves the pipeline unfinished leaves the connection unusable (in pipeline mode,
  // or with answers still to come): it is then marked broken, and reset() makes a new one.
  if (!sent || PQpipelineSync(c) != 1) {
    broken_ = true;
    throw lost("cannot send to PostgreSQL");
  }
  std::vector<Result> out;
  out.reserve(calls.size());
  std::optional<PipelineError> failed;
  int nothing = 0;  // NULLs in a row: more than one means nothing more will come
  for (;;) {
    PGresult* r = PQgetResult(c);
    if (r == nullptr) {
      if (++nothing > 1 || !ok()) break;
      continue;
    }
    nothing = 0;
    const auto status = PQresultStatus(r);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      break;
    }
    if (status == PGRES_PIPELINE_ABORTED) {
      PQclear(r);
      continue;
    }
    const auto& call = calls.at(std::min(out.size(), calls.size() - 1));
    try {
      out.push_back(check(r, call.sql.empty() ? call.name : call.sql.substr(0, 40)));
    } catch (const Error& e) {
      if (!failed) failed.emplace(e, out.size());
    }
  }
  if (PQexitPipelineMode(c) != 1) broken_ = true;
  if (failed) throw *failed;
  if (out.size() != calls.size() || broken_) {
    broken_ = true;
    throw lost("the pipeline was cut short");
  }
  return out;
}

void ArrayParam::next() {
  if (count_++ > 0) text_ += ',';
}

ArrayParam& ArrayParam::add(std::string_view v) {
  next();
  text_ += '"';
  for (const char c : v) {
    if (c == '"' || c == '\\') text_ += '\\';
    text_ += c;
  }
  text_ += '"';
  return *this;
}

ArrayParam& ArrayParam::add(const std::optional<std::string>& v) {
  return v ? add(std::string_view(*v)) : add_null();
}

ArrayParam& ArrayParam::add(std::int64_t v) {
  next();
  text_ += std::to_string(v);
  return *this;
}

ArrayParam& ArrayParam::add(const std::optional<std::int64_t>& v) {
  return v ? add(*v) : add_null();
}

ArrayParam& ArrayParam::add_null() {
  next();
  text_ += "NULL";
  return *this;
}

std::string array_literal(const std::vector<std::string>& items) {
  ArrayParam out;
  for (const auto& item : items) out.add(std::string_view(item));
  return out.literal();
}

bool has_password(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return true;
  }
  bool found = false;
  for (const auto* o = options; o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "password" && o->val != nullptr && *o->val != '\0') {
      found = true;
    }
  }
  PQconninfoFree(options);
  return found;
}

bool is_url(std::string_view where) {
  return where.rfind("postgresql://", 0) == 0 || where.rfind("postgres://", 0) == 0;
}

}  // namespace tb::pg
