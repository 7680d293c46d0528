// The writer on a real store, with its answers and events collected in memory: the fixture of
// writer_test.cpp and scan_decision_test.cpp, parameterised by backend ("sqlite": a file of the
// test's own; "postgresql": a new database on the test process's server). On PostgreSQL every
// batch goes through the read-ahead and the gathered writes of PgStore.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "postgres.hpp"
#include "process.hpp"
#include "store.hpp"
#include "writer.hpp"

namespace tb {

using nlohmann::json;

class WriterTest : public ::testing::TestWithParam<std::string> {
 protected:
  WriterTest()
      : where_(GetParam() == "sqlite" ? dir_.file("p.db")
                                      : tbtest::shared_postgres().create_database()),
        owned_(make_store(where_, Durability::Full)),
        store_(*owned_),
        writer_(
            store_, metrics_, health_, [this](Answer a) { answers_.push_back(std::move(a)); },
            [this](const std::shared_ptr<const StoredEvent>& e) {
              events_.push_back(e);
              return std::size_t{2};  // as if two connections of the uid were live
            }) {}

  void add(const std::string& code, const std::string& uid, std::int64_t max_entries = 1) {
    Ticket t;
    t.code = code;
    t.uid = uid;
    t.max_entries = max_entries;
    store_.insert_ticket(t);
  }

  static InboundScan scan(const json& payload, std::optional<std::string> response = {},
                          std::optional<std::string> corr = {}) {
    InboundScan in;
    in.payload = payload.dump();
    in.response_topic = std::move(response);
    in.correlation = std::move(corr);
    return in;
  }

  void process(std::vector<InboundScan> batch) { writer_.process(batch); }

  // A batch decided by a writer of these rules, answering into the same answers_ and events_.
  void process_with(const ScanRules& rules, std::vector<InboundScan> batch) {
    WriterOptions options;
    options.scans = rules;
    process_with(options, std::move(batch));
  }
  void process_with(const WriterOptions& options, std::vector<InboundScan> batch) {
    Writer writer(
        store_, metrics_, health_, [this](Answer a) { answers_.push_back(std::move(a)); },
        [this](const std::shared_ptr<const StoredEvent>& e) {
          events_.push_back(e);
          return std::size_t{2};
        },
        options);
    writer.process(batch);
  }

  json answer(std::size_t i) const { return json::parse(answers_.at(i).payload); }

  tbtest::TempDir dir_;
  std::string where_;
  std::unique_ptr<Store> owned_;
  Store& store_;
  Metrics metrics_;
  Health health_;
  std::vector<Answer> answers_;
  std::vector<std::shared_ptr<const StoredEvent>> events_;
  Writer writer_;
};

// Both backends, the test named after each.
#define TB_WRITER_BACKENDS(Suite)                                                      \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::Values("sqlite", "postgresql"), \
                           [](const auto& info) { return info.param; })

}  // namespace tb
