// The writer on a real SQLite file, with its answers and events collected in memory: the fixture
// of writer_test.cpp and scan_decision_test.cpp.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "process.hpp"
#include "sqlite_store.hpp"
#include "writer.hpp"

namespace tb {

using nlohmann::json;

class WriterTest : public ::testing::Test {
 protected:
  WriterTest()
      : store_(dir_.file("p.db")),
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

  json answer(std::size_t i) const { return json::parse(answers_.at(i).payload); }

  tbtest::TempDir dir_;
  SqliteStore store_;
  Metrics metrics_;
  Health health_;
  std::vector<Answer> answers_;
  std::vector<std::shared_ptr<const StoredEvent>> events_;
  Writer writer_;
};

}  // namespace tb
