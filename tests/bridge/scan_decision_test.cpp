// Deciding scans (scan_decision.cpp) through the writer's batches: every answer key, the
// Response Topic rules, exactly-once, one ticket at two gates, malformed and unknown input.
#include <map>

#include "pg_store.hpp"
#include "rotating_code.hpp"
#include "signed_code.hpp"
#include "writer_fixture.hpp"

namespace tb {
namespace {

using ScanDecision = WriterTest;
TB_WRITER_BACKENDS(ScanDecision);

TEST_P(ScanDecision, AdmitsAndAnswersWithEveryKey) {
  add("C1", "42");
  process({scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "gate-1"}, {"gate", "north"}})});
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_EQ(answers_[0].topic, "tickets/result/gate-1");
  const json a = answer(0);
  for (const char* key : {"scan_id", "code", "status", "reason", "entries", "max_entries", "holder",
                          "previous", "decided_at"}) {
    EXPECT_TRUE(a.contains(key)) << key;
  }
  EXPECT_EQ(a["status"], "admitted");
  EXPECT_EQ(a["reason"], "ok");
  EXPECT_EQ(a["entries"], 1);
  ASSERT_EQ(events_.size(), 1U);
  const json e = json::parse(events_[0]->body);
  EXPECT_EQ(e["type"], "ticket.admitted");
  EXPECT_EQ(e["seq"], 1);
  EXPECT_EQ(e["gate"], "north");
  EXPECT_EQ(events_[0]->uid, "42");
}

TEST_P(ScanDecision, ResponseTopicAndCorrelationWin) {
  add("C1", "42");
  process({scan({{"code", "C1"}, {"scanner", "gate-1"}}, "my/replies", "corr-7")});
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_EQ(answers_[0].topic, "my/replies");
  EXPECT_EQ(answers_[0].correlation, "corr-7");
  // Should the broker refuse that publish, the answer goes to the scanner's own topic.
  EXPECT_EQ(answers_[0].fallback_topic, "tickets/result/gate-1");
}

TEST_P(ScanDecision, AnUntrustedResponseTopicIsReplacedByTheScannersOwn) {
  add("C1", "42", 0);
  for (const std::string rt : {"#", "users/42/events", "tickets/result/gate-2", "$SYS/x"}) {
    process({scan({{"code", "C1"}, {"scanner", "gate-1"}}, rt, "c")});
  }
  ASSERT_EQ(answers_.size(), 4U);
  for (const auto& a : answers_) {
    EXPECT_EQ(a.topic, "tickets/result/gate-1");
    EXPECT_EQ(a.correlation, "c");
    EXPECT_FALSE(a.fallback_topic);
  }
  EXPECT_EQ(metrics_.response_topics_refused.load(), 4U);
  // A malformed scan that names no scanner cannot be answered on a refused topic.
  process({scan("garbage", "#")});
  EXPECT_EQ(answers_.size(), 4U);
}

TEST_P(ScanDecision, RepeatedScanIdGetsTheStoredResultAndChangesNothing) {
  add("C1", "42", 0);  // unlimited: a second decision would admit again
  const json p = {{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "gate-1"}};
  process({scan(p)});
  json other = p;
  other["code"] = "C2";  // the rest of the payload may differ
  process({scan(p), scan(other)});
  ASSERT_EQ(answers_.size(), 3U);
  EXPECT_EQ(answers_[1].payload, answers_[0].payload);
  EXPECT_EQ(answers_[2].payload, answers_[0].payload);
  EXPECT_EQ(events_.size(), 1U);
  EXPECT_EQ(store_.find_ticket("C1")->usage.entries, 1);
  EXPECT_EQ(metrics_.scans_duplicate.load(), 2U);
}

TEST_P(ScanDecision, TwoScannersOneTicketInOneBatch) {
  add("C1", "42");
  process({scan({{"scan_id", "a:1"}, {"code", "C1"}, {"scanner", "a"}, {"gate", "north"}}),
           scan({{"scan_id", "b:1"}, {"code", "C1"}, {"scanner", "b"}, {"gate", "south"}})});
  ASSERT_EQ(answers_.size(), 2U);
  EXPECT_EQ(answer(0)["status"], "admitted");
  EXPECT_EQ(answer(1)["status"], "rejected");
  EXPECT_EQ(answer(1)["reason"], "already_used");
  EXPECT_EQ(answer(1)["previous"]["gate"], "north");
  EXPECT_EQ(answer(1)["previous"]["scanner"], "a");
  ASSERT_EQ(events_.size(), 2U);
  const json rejected = json::parse(events_[1]->body);
  EXPECT_EQ(rejected["type"], "ticket.rejected");
  EXPECT_EQ(rejected["reason"], "already_used");
  EXPECT_EQ(rejected["seq"], 2);
}

TEST_P(ScanDecision, UnknownAndMalformedGiveNoEvent) {
  add("C1", "42");
  process({scan({{"scan_id", "s:1"}, {"code", "NOPE"}, {"scanner", "g"}}),
           scan({{"scan_id", "s:2"}, {"code", "C1"}, {"scanner", "g"}, {"direction", "up"}})});
  ASSERT_EQ(answers_.size(), 2U);
  EXPECT_EQ(answer(0)["reason"], "unknown");
  EXPECT_EQ(answer(0)["holder"], nullptr);
  EXPECT_EQ(answer(1)["reason"], "malformed");
  EXPECT_EQ(answer(1)["scan_id"], "s:2");
  EXPECT_TRUE(events_.empty());
  // Both are in the audit log; the malformed one keeps its answer for a redelivery.
  process({scan({{"scan_id", "s:2"}, {"code", "C1"}, {"scanner", "g"}})});
  EXPECT_EQ(answer(2)["reason"], "malformed");
}

TEST_P(ScanDecision, UnidentifiableGarbageIsCountedNotAnswered) {
  InboundScan in;
  in.payload = "\xff\xfe garbage";
  std::vector<InboundScan> batch;
  batch.push_back(std::move(in));
  writer_.process(batch);
  EXPECT_TRUE(answers_.empty());
  EXPECT_EQ(metrics_.scans[2][static_cast<std::size_t>(Reason::Malformed)].load(), 1U);
}

// A device's scan without a scan_id that repeats within the window gets the first answer again,
// whether the repeat is in the same batch or the next; another scanner's scan is decided.
TEST_P(ScanDecision, ADevicesRepeatInTheSameBatchOrTheNextGetsTheFirstAnswer) {
  add("C1", "42");
  const auto device = [](const std::string& scanner, const std::string& code) {
    InboundScan in;
    in.payload = code;
    in.device_scanner = scanner;
    return in;
  };
  auto* pg = dynamic_cast<PgStore*>(&store_);
  const auto round_trips = [&] { return pg ? pg->round_trips() : 0; };
  const auto before = round_trips();
  process({device("d1", "C1"), device("d1", "C1")});
  process({device("d1", "C1"), device("d2", "C1")});
  if (pg) {
    EXPECT_EQ(round_trips() - before, 4U);  // the window's lookback is read ahead with the rest
  }
  ASSERT_EQ(answers_.size(), 4U);
  EXPECT_EQ(answer(0)["status"], "admitted");
  EXPECT_EQ(answers_[1].payload, answers_[0].payload);
  EXPECT_EQ(answers_[2].payload, answers_[0].payload);
  EXPECT_EQ(answer(3)["reason"], "already_used");
  EXPECT_EQ(metrics_.scans_repeated.load(), 2U);
  EXPECT_EQ(store_.find_ticket("C1")->usage.entries, 1);
  EXPECT_EQ(store_.recent_scans("C1", 10).size(), 2U);
}

// SPEC.md v1.1: a signed code is decided as its plain ticket, and only when it is exactly the
// code issued for that ticket; results and events name the plain code.
TEST_P(ScanDecision, ASignedCodeIsDecidedOnlyWhenItIsTheOneIssued) {
  const auto key = SigningKey::generate();
  const auto other_key = SigningKey::generate();
  Ticket t;
  t.code = "S1";
  t.uid = "42";
  t.max_entries = 0;
  t.gates = {"north"};
  t.valid_until = now_ms() + 3'600'000;
  sign_ticket(t, key);
  store_.insert_ticket(t);
  ASSERT_EQ(store_.find_ticket("S1")->signed_code, t.signed_code);

  Ticket copy = t;
  sign_ticket(copy, other_key);  // the same ticket under another key
  Ticket widened = t;
  widened.gates.clear();  // every gate, signed with the venue's key: not what was issued
  sign_ticket(widened, key);
  std::string lower = *t.signed_code;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));

  const auto at = [](const std::string& code, const char* gate, const char* id) {
    return scan({{"scan_id", id}, {"code", code}, {"scanner", "g"}, {"gate", gate}});
  };
  process({at(*t.signed_code, "north", "s:1"), at(lower, "north", "s:2"), at("S1", "north", "s:3"),
           at(*copy.signed_code, "north", "s:4"), at(*widened.signed_code, "south", "s:5"),
           at(*t.signed_code, "south", "s:6")});
  ASSERT_EQ(answers_.size(), 6U);
  for (std::size_t i = 0; i < 3; ++i) {  // the signed code, in either case, and the plain one
    EXPECT_EQ(answer(i)["status"], "admitted") << i;
    EXPECT_EQ(answer(i)["code"], "S1") << i;
  }
  for (const std::size_t i : {std::size_t{3}, std::size_t{4}}) {
    EXPECT_EQ(answer(i)["reason"], "unknown") << i;
    EXPECT_EQ(answer(i)["code"], "S1") << i;
    EXPECT_EQ(answer(i)["holder"], nullptr) << i;  // nothing of the ticket is shown
  }
  EXPECT_EQ(answer(5)["reason"], "wrong_gate");  // checked online against the stored ticket
  EXPECT_EQ(metrics_.scans_signed_mismatch.load(), 2U);
  ASSERT_EQ(events_.size(), 4U);  // three admissions and the wrong gate; none for the others
  for (const auto& e : events_) EXPECT_EQ(json::parse(e->body)["code"], "S1");

  // An expired window, online: the stored ticket's.
  Ticket old = t;
  old.code = "S2";
  old.valid_until = now_ms() - 1000;
  sign_ticket(old, key);
  store_.insert_ticket(old);
  process({at(*old.signed_code, "north", "s:7")});
  EXPECT_EQ(answer(6)["reason"], "expired");
  EXPECT_EQ(answer(6)["code"], "S2");
}

// The repeat window of a device never replays an answer across signed codes that differ: a copy
// that is not the issued code, shown right after the real one at the same scanner, is not
// admitted by replay, and the real one right after a refused copy is decided, not refused again.
TEST_P(ScanDecision, TheRepeatWindowNeverReplaysAnswersAcrossDifferentSignedCodes) {
  const auto key = SigningKey::generate();
  Ticket t;
  t.code = "S1";
  t.uid = "42";
  t.max_entries = 0;
  sign_ticket(t, key);
  store_.insert_ticket(t);
  Ticket copy = t;
  sign_ticket(copy, SigningKey::generate());
  const auto device = [](const std::string& scanner, const std::string& code) {
    InboundScan in;
    in.payload = code;
    in.device_scanner = scanner;
    return in;
  };
  process({device("d1", *t.signed_code), device("d1", *copy.signed_code)});
  process({device("d2", *copy.signed_code), device("d2", *t.signed_code)});
  ASSERT_EQ(answers_.size(), 4U);
  EXPECT_EQ(answer(0)["status"], "admitted");
  EXPECT_EQ(answer(1)["reason"], "unknown") << "the copy was admitted by the repeat window";
  EXPECT_EQ(answer(2)["reason"], "unknown");
  EXPECT_EQ(answer(3)["status"], "admitted") << "the real code got the copy's refusal again";
  EXPECT_EQ(store_.find_ticket("S1")->usage.entries, 2);
}

// SPEC.md v1.1: a rotating ticket is admitted only with the value of the moment it is judged at
// (its scanned_at), one step either side; a stale or missing value, the bare signed code and the
// plain code are refused as stale_code, use nothing, and tell the owner.
TEST_P(ScanDecision, ARotatingTicketNeedsAFreshValue) {
  const auto key = SigningKey::generate();
  const auto rotation = std::make_shared<const RotatingKey>(generate_rotating_key());
  Ticket t;
  t.code = "R1";
  t.uid = "42";
  t.max_entries = 0;
  t.rotating = true;
  sign_ticket(t, key);
  store_.insert_ticket(t);
  ASSERT_TRUE(store_.find_ticket("R1")->rotating);
  const auto secret = ticket_rotating_secret(*rotation, "R1");
  const Millis now = now_ms();
  const auto value_at = [&](Millis at) { return rotating_value(secret, rotating_step(at)); };
  const auto at = [&](const std::string& code, const char* id, Millis scanned) {
    return scan({{"scan_id", id},
                 {"code", code},
                 {"scanner", "g"},
                 {"scanned_at", format_rfc3339(scanned)}});
  };
  const std::string& signed_code = *t.signed_code;
  ScanRules rules;
  rules.rotating_key = rotation;
  process_with(rules, {at(signed_code + "." + value_at(now), "r:1", now),
                       at(signed_code + "." + value_at(now - 40'000), "r:2", now),  // a screenshot
                       at(signed_code, "r:3", now), at("R1", "r:4", now),
                       // Judged at its scanned_at: delivered late, a value of its time is fresh.
                       at(signed_code + "." + value_at(now - 600'000), "r:5", now - 600'000),
                       at(signed_code + "." + value_at(now) + "0", "r:6", now)});
  ASSERT_EQ(answers_.size(), 6U);
  EXPECT_EQ(answer(0)["status"], "admitted");
  for (const std::size_t i : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
    EXPECT_EQ(answer(i)["reason"], "stale_code") << i;
    EXPECT_EQ(answer(i)["code"], "R1") << i;
  }
  EXPECT_EQ(answer(4)["status"], "admitted");
  EXPECT_EQ(answer(5)["reason"], "malformed");  // nine digits
  EXPECT_EQ(store_.find_ticket("R1")->usage.entries, 2);
  ASSERT_EQ(events_.size(), 5U);  // two admissions, three refusals; none for the malformed scan
  EXPECT_EQ(json::parse(events_[1]->body)["reason"], "stale_code");

  // An embedded scanner reads a QR code as it is: a code made to look like a JSON scan cannot
  // date itself back to when its value was fresh. A device's scan is judged at the bridge's clock.
  InboundScan forged;
  forged.device_scanner = "d1";
  forged.payload = json{{"code", signed_code + "." + value_at(now - 600'000)},
                        {"scanned_at", format_rfc3339(now - 600'000)}}
                       .dump();
  process_with(rules, {forged});
  EXPECT_EQ(answer(6)["reason"], "stale_code") << "a screenshot dated itself back";
  answers_.erase(answers_.begin() + 6);

  // A bridge without the rotating key cannot tell a live code from a copy: it refuses both.
  process({at(signed_code + "." + value_at(now), "r:7", now)});
  EXPECT_EQ(answer(6)["reason"], "stale_code");
}

// Scans a gate decided offline (SPEC.md v1.1, docs/offline.md "Reconciliation").
json offline_scan(const std::string& scan_id, const std::string& code, const std::string& gate,
                  const std::string& status, const std::string& reason) {
  return {{"scan_id", scan_id},
          {"code", code},
          {"scanner", "gate-" + gate},
          {"gate", gate},
          {"scanned_at", "2026-11-25T19:00:00Z"},
          {"offline",
           {{"status", status}, {"reason", reason}, {"decided_at", "2026-11-25T19:00:01Z"}}}};
}

std::uint64_t verdicts(const Metrics& m, Status s) {
  return m.offline_verdicts[static_cast<std::size_t>(s)].load();
}

std::uint64_t scans_decided(const Metrics& m) {
  std::uint64_t n = 0;
  for (const auto& by_reason : m.scans) {
    for (const auto& c : by_reason) n += c.load();
  }
  return n;
}

TEST_P(ScanDecision, AnOfflineAdmissionTheBridgeAgreesWithIsRecordedOnce) {
  add("C1", "42");
  const auto p = offline_scan("s:1", "C1", "north", "admitted", "ok");
  process({scan(p)});
  process({scan(p), scan(p)});  // the agent's re-send, and a QoS 1 duplicate
  ASSERT_EQ(answers_.size(), 3U);
  const json a = answer(0);
  EXPECT_EQ(a["status"], "admitted");
  EXPECT_EQ(a["conflict"], false);
  EXPECT_EQ(answers_[1].payload, answers_[0].payload);
  EXPECT_EQ(answers_[2].payload, answers_[0].payload);
  EXPECT_EQ(store_.find_ticket("C1")->usage.entries, 1);
  ASSERT_EQ(events_.size(), 1U);
  EXPECT_EQ(json::parse(events_[0]->body)["type"], "ticket.admitted");
  const auto audit = store_.recent_scans("C1", 10);
  ASSERT_EQ(audit.size(), 1U);
  ASSERT_TRUE(audit[0].offline);
  EXPECT_EQ(json::parse(*audit[0].offline)["status"], "admitted");
  EXPECT_EQ(json::parse(*audit[0].offline)["decided_at"], "2026-11-25T19:00:01.000Z");
  EXPECT_FALSE(audit[0].conflict);
  EXPECT_EQ(verdicts(metrics_, Status::Admitted), 1U);
  EXPECT_EQ(metrics_.offline_conflicts.load(), 0U);
}

// Two gates let one single-entry ticket in: one online, one offline. The offline one is audited
// and counted as a conflict, the ticket counts one entry, and the owner hears of it once.
TEST_P(ScanDecision, AnOfflineAdmissionAfterAnotherGateLetTheTicketInIsAConflict) {
  add("C1", "42");
  process(
      {scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "gate-south"}, {"gate", "south"}})});
  const auto p = offline_scan("s:2", "C1", "north", "admitted", "ok");
  process({scan(p)});
  process({scan(p)});
  ASSERT_EQ(answers_.size(), 3U);
  const json a = answer(1);
  EXPECT_EQ(a["status"], "rejected");
  EXPECT_EQ(a["reason"], "already_used");
  EXPECT_EQ(a["conflict"], true);
  EXPECT_EQ(answers_[2].payload, answers_[1].payload);
  EXPECT_EQ(store_.find_ticket("C1")->usage.entries, 1);
  ASSERT_EQ(events_.size(), 2U);
  const json e = json::parse(events_[1]->body);
  EXPECT_EQ(e["type"], "ticket.conflict");
  EXPECT_EQ(e["seq"], 2);
  EXPECT_EQ(e["gate"], "north");
  EXPECT_EQ(e["status"], "rejected");
  EXPECT_EQ(e["reason"], "already_used");
  EXPECT_EQ(e["offline"]["status"], "admitted");
  EXPECT_EQ(e["previous"]["gate"], "south");
  EXPECT_EQ(e["at"], "2026-11-25T19:00:00.000Z");  // when it happened at the gate
  const auto audit = store_.recent_scans("C1", 10);
  ASSERT_EQ(audit.size(), 2U);
  EXPECT_TRUE(audit[0].conflict);
  EXPECT_FALSE(audit[1].offline);
  EXPECT_EQ(verdicts(metrics_, Status::Admitted), 1U);
  EXPECT_EQ(metrics_.offline_conflicts.load(), 1U);
}

// The gate turned the holder away (its clock said the ticket was not valid yet): the bridge, whose
// rules admit, records the refusal, so the holder's next scan is let in rather than already_used.
TEST_P(ScanDecision, AHolderTheGateTurnedAwayIsNotAdmittedAfterwards) {
  add("C1", "42");
  process({scan(offline_scan("s:1", "C1", "north", "rejected", "not_yet_valid"))});
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_EQ(answer(0)["status"], "rejected");
  EXPECT_EQ(answer(0)["reason"], "not_yet_valid");
  EXPECT_EQ(answer(0)["conflict"], true);
  EXPECT_EQ(store_.find_ticket("C1")->usage.entries, 0);
  process({scan({{"scan_id", "s:2"}, {"code", "C1"}, {"scanner", "gate-north"}})});
  EXPECT_EQ(answer(1)["status"], "admitted");
  ASSERT_EQ(events_.size(), 2U);
  EXPECT_EQ(json::parse(events_[0]->body)["type"], "ticket.conflict");
  EXPECT_EQ(json::parse(events_[1]->body)["type"], "ticket.admitted");
  EXPECT_EQ(verdicts(metrics_, Status::Rejected), 1U);
}

// The bridge admitted s:1 but its answer never reached the gate, which then decided alone. The
// bridge's decision stands; the gate's verdict is recorded beside it, once.
TEST_P(ScanDecision, AnOfflineVerdictOnAScanDecidedBeforeIsRecordedBesideIt) {
  add("C1", "42");
  add("C2", "42");
  process({scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "gate-north"}}),
           scan({{"scan_id", "s:2"}, {"code", "C2"}, {"scanner", "gate-north"}})});
  const auto differs = offline_scan("s:1", "C1", "north", "rejected", "already_used");
  const auto agrees = offline_scan("s:2", "C2", "north", "admitted", "ok");
  process({scan(differs), scan(agrees)});
  process({scan(differs), scan(agrees)});
  ASSERT_EQ(answers_.size(), 6U);
  EXPECT_EQ(answer(2)["status"], "admitted");
  EXPECT_EQ(answer(2)["conflict"], true);
  EXPECT_EQ(answer(2)["decided_at"], answer(0)["decided_at"]);  // the first decision
  EXPECT_EQ(answer(3)["status"], "admitted");
  EXPECT_EQ(answer(3)["conflict"], false);
  EXPECT_EQ(answers_[4].payload, answers_[2].payload);
  EXPECT_EQ(answers_[5].payload, answers_[3].payload);
  EXPECT_EQ(store_.find_ticket("C1")->usage.entries, 1);
  EXPECT_EQ(store_.find_ticket("C2")->usage.entries, 1);
  ASSERT_EQ(events_.size(), 3U);  // two admissions, one conflict
  const json e = json::parse(events_[2]->body);
  EXPECT_EQ(e["type"], "ticket.conflict");
  EXPECT_EQ(e["code"], "C1");
  EXPECT_EQ(e["status"], "admitted");
  EXPECT_EQ(e["offline"]["reason"], "already_used");
  EXPECT_EQ(e["seq"], 3);
  const auto audit = store_.recent_scans("C1", 10);
  ASSERT_EQ(audit.size(), 1U);
  EXPECT_TRUE(audit[0].conflict);
  EXPECT_EQ(audit[0].status, "admitted");
  EXPECT_EQ(json::parse(*audit[0].offline)["status"], "rejected");
  EXPECT_EQ(verdicts(metrics_, Status::Rejected), 1U);
  EXPECT_EQ(verdicts(metrics_, Status::Admitted), 1U);
  EXPECT_EQ(metrics_.offline_conflicts.load(), 1U);
  EXPECT_EQ(scans_decided(metrics_), 2U);  // two scans decided, whatever was re-sent
}

// A verdict under a scan_id the bridge decided for another ticket is not recorded on it.
TEST_P(ScanDecision, AnOfflineVerdictUnderAnotherTicketsScanIdChangesNothing) {
  add("C1", "42");
  add("C2", "43");
  process({scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "gate-north"}})});
  process({scan(offline_scan("s:1", "C2", "north", "rejected", "revoked"))});
  ASSERT_EQ(answers_.size(), 2U);
  EXPECT_EQ(answers_[1].payload, answers_[0].payload);
  EXPECT_FALSE(store_.recent_scans("C1", 1).at(0).offline);
  EXPECT_EQ(events_.size(), 1U);
  EXPECT_EQ(metrics_.offline_conflicts.load(), 0U);
}

// The gates' feed (gate_sync.hpp): one call per committed batch with what it changed of signed
// tickets, named by key; plain tickets and refusals change nothing; off, nothing at all.
TEST_P(ScanDecision, ABatchTellsTheGatesFeedWhatItChangedOfSignedTickets) {
  const auto key = SigningKey::generate();
  Ticket t;
  t.code = "FS1";
  t.uid = "42";
  t.reentry = true;
  sign_ticket(t, key);
  store_.insert_ticket(t);
  add("FP1", "42");
  std::vector<std::vector<SyncEntry>> batches;
  const auto run = [&](bool on, std::vector<InboundScan> batch) {
    WriterOptions options;
    options.scans.gate_feed = on;
    options.on_feed = [&](std::vector<SyncEntry>& news) { batches.push_back(news); };
    process_with(options, std::move(batch));
  };
  const auto at = [](const std::string& code, const char* id, const char* direction = "in") {
    return scan({{"scan_id", id}, {"code", code}, {"scanner", "g"}, {"direction", direction}});
  };
  run(true, {at(*t.signed_code, "f:1"), at("FP1", "f:2"), at(*t.signed_code, "f:3")});
  ASSERT_EQ(batches.size(), 1U);
  ASSERT_EQ(batches[0].size(), 1U);  // the second in is refused (already inside): no news
  EXPECT_EQ(batches[0][0].key, sync_key_of(*t.signed_code));
  EXPECT_EQ(batches[0][0].entries, 1);
  EXPECT_TRUE(batches[0][0].inside);
  EXPECT_FALSE(batches[0][0].revoked);
  run(true, {at(*t.signed_code, "f:4", "out")});
  ASSERT_EQ(batches.size(), 2U);
  EXPECT_FALSE(batches[1].at(0).inside);
  run(true, {at("FP1", "f:5", "out")});  // a plain ticket's exit
  EXPECT_EQ(batches.size(), 2U);
  run(false, {at(*t.signed_code, "f:6")});
  EXPECT_EQ(batches.size(), 2U);
  EXPECT_EQ(store_.find_ticket("FS1")->usage.entries, 1);
}

}  // namespace
}  // namespace tb
