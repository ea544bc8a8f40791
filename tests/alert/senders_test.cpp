// Alert bodies and wording: Slack escaping (a name cannot mention @channel) and the words of
// each condition the store reports.

#include "alert/senders.hpp"
#include "alert/wording.hpp"

#include <gtest/gtest.h>

namespace kiln::alert {
namespace {

TEST(SlackEscape, EscapesTheThreeControlCharacters) {
  EXPECT_EQ(slack_escape("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
  EXPECT_EQ(slack_escape("<!channel>"), "&lt;!channel&gt;");
  EXPECT_EQ(slack_escape("&amp;"), "&amp;amp;");  // already-escaped text is escaped again, not trusted
  EXPECT_EQ(slack_escape("plain"), "plain");
}

TEST(SlackBody, AnInputNameCannotMentionTheChannel) {
  store::Event e;
  e.id = 7;
  e.job_id = 42;
  e.kind = "discarded";
  e.payload = {{"error", {{"code", "input_missing"}, {"message", "no such file: /in/<!channel> & <@U123>.mp4"}}}};
  std::string text = slack_body(e)["text"];
  EXPECT_EQ(text.find("<!channel>"), std::string::npos) << text;
  EXPECT_EQ(text.find("<@U123>"), std::string::npos) << text;
  EXPECT_NE(text.find("&lt;!channel&gt; &amp; &lt;@U123&gt;"), std::string::npos) << text;
  EXPECT_NE(text.find("discarded: job 42"), std::string::npos) << text;
}

TEST(SlackBody, ANodeNameIsEscapedToo) {
  store::Event e;
  e.kind = "node_lost";
  e.payload = {{"node", "<!here>"}};
  std::string text = slack_body(e)["text"];
  EXPECT_NE(text.find("node &lt;!here&gt;"), std::string::npos) << text;
}

TEST(Wording, EachConditionHasItsAlertnameAndWords) {
  using What = store::Condition::What;
  store::Condition failed{What::kJobFailed, 5, "", "", 0, "decoder error"};
  Alert a = word(failed);
  EXPECT_EQ(a.labels["alertname"], "KilnJobFailed");
  EXPECT_EQ(a.labels["job_id"], "5");
  EXPECT_EQ(a.labels["severity"], "warning");
  EXPECT_EQ(a.annotations["summary"], "Kiln job 5 failed and will retry");
  EXPECT_EQ(a.annotations["description"], "decoder error");
  Alert d = word({What::kJobDiscarded, 6, "", "", 0, "gone"});
  EXPECT_EQ(d.labels["alertname"], "KilnJobDiscarded");
  EXPECT_EQ(d.labels["severity"], "critical");
  EXPECT_EQ(d.annotations["summary"], "Kiln job 6 was discarded (out of attempts)");
  Alert n = word({What::kNodeLost, 0, "gpu-3", "", 0, ""});
  EXPECT_EQ(n.labels["alertname"], "KilnNodeLost");
  EXPECT_EQ(n.labels["node"], "gpu-3");
  EXPECT_EQ(n.annotations["summary"], "Kiln node gpu-3 stopped heartbeating");
  Alert f = word({What::kDeliveryFailed, 0, "", "ops", 3, "HTTP 500"});
  EXPECT_EQ(f.labels["alertname"], "KilnAlertDeliveryFailed");
  EXPECT_EQ(f.labels["receiver"], "ops");
  EXPECT_NE(f.annotations["summary"].get<std::string>().find("3 event(s) to receiver ops"), std::string::npos);
  EXPECT_NE(f.annotations["description"].get<std::string>().find("HTTP 500"), std::string::npos);
  EXPECT_EQ(word_all({failed, {What::kNodeLost, 0, "x", "", 0, ""}}).size(), 2u);
}

}  // namespace
}  // namespace kiln::alert
