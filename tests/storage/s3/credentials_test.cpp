// Where credentials come from (their order), the credentials file format, and that secrets
// never print.
#include "storage/s3/credentials.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace kiln::storage::s3 {
namespace {
namespace fs = std::filesystem;

struct FakeEnv {
  std::map<std::string, std::string> vars;
  Env env() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

class S3CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/kiln-creds-XXXXXX";
    dir_ = mkdtemp(templ);
    write(dir_ / "credentials",
          "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = secret-default\n\n"
          "[media]\nAWS_ACCESS_KEY_ID=AKIDMEDIA\naws_secret_access_key= secret-media \naws_session_token = tok\n");
    fs::create_directories(dir_ / "creds");
    write(dir_ / "creds" / "kiln-s3", "aws_access_key_id = AKIDSYSTEMD\naws_secret_access_key = secret-systemd\n");
    env_.vars["HOME"] = (dir_ / "home").string();
    env_.vars["AWS_SHARED_CREDENTIALS_FILE"] = (dir_ / "credentials").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

  fs::path dir_;
  FakeEnv env_;
};

TEST(S3CredentialsFile, ProfilesAreSectionsWithLowerCasedKeys) {
  const char* text = "[default]\na = 1\n[profile other]\nB = 2 \n; note\n[third]\nc=3\n";
  auto d = parse_profile(text, "default", "f");
  ASSERT_TRUE(d) << d.status().message();
  EXPECT_EQ(d->at("a"), "1");
  EXPECT_EQ(d->count("b"), 0u);
  auto o = parse_profile(text, "other", "f");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->at("b"), "2");
  auto missing = parse_profile(text, "nope", "f");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("no profile [nope]"), std::string::npos);
  // A bare file (a systemd credential holding just the keys) is the default profile.
  auto bare = parse_profile("x = y\n", "default", "f");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->at("x"), "y");
  auto broken = parse_profile("[default]\naws_secret_access_key\n", "default", "f");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.status().message(), "f:2: expected 'key = value'");  // names the line, never the value
}

TEST_F(S3CredentialsTest, EnvironmentFirstThenTheSharedFile) {
  auto file = resolve_credentials({}, env_.env());
  ASSERT_TRUE(file) << file.status().message();
  EXPECT_EQ(file->access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(file->secret_access_key.reveal(), "secret-default");

  env_.vars["AWS_PROFILE"] = "media";
  auto profile = resolve_credentials({}, env_.env());
  ASSERT_TRUE(profile);
  EXPECT_EQ(profile->access_key_id, "AKIDMEDIA");
  EXPECT_EQ(profile->secret_access_key.reveal(), "secret-media");
  EXPECT_EQ(profile->session_token.reveal(), "tok");

  env_.vars["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_.vars["AWS_SECRET_ACCESS_KEY"] = "secret-env";
  env_.vars["AWS_SESSION_TOKEN"] = "token-env";
  auto from_env = resolve_credentials({}, env_.env());
  ASSERT_TRUE(from_env);
  EXPECT_EQ(from_env->access_key_id, "AKIDENV");
  EXPECT_EQ(from_env->session_token.reveal(), "token-env");
  EXPECT_NE(from_env->source.find("environment"), std::string::npos);
}

TEST_F(S3CredentialsTest, ALocationsOwnProfileOrCredentialBeatsTheEnvironment) {
  env_.vars["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_.vars["AWS_SECRET_ACCESS_KEY"] = "secret-env";
  auto profile = resolve_credentials({"", "media"}, env_.env());
  ASSERT_TRUE(profile);
  EXPECT_EQ(profile->access_key_id, "AKIDMEDIA");

  auto no_dir = resolve_credentials({"kiln-s3", ""}, env_.env());
  ASSERT_FALSE(no_dir);
  EXPECT_NE(no_dir.status().message().find("LoadCredential=kiln-s3:"), std::string::npos);
  env_.vars["CREDENTIALS_DIRECTORY"] = (dir_ / "creds").string();
  auto systemd = resolve_credentials({"kiln-s3", ""}, env_.env());
  ASSERT_TRUE(systemd) << systemd.status().message();
  EXPECT_EQ(systemd->access_key_id, "AKIDSYSTEMD");
  EXPECT_EQ(systemd->secret_access_key.reveal(), "secret-systemd");
  EXPECT_EQ(systemd->source, "systemd credential 'kiln-s3'");
  EXPECT_FALSE(resolve_credentials({"../credentials", ""}, env_.env()));
}

TEST_F(S3CredentialsTest, NothingFoundSaysWhatToSet) {
  env_.vars.erase("AWS_SHARED_CREDENTIALS_FILE");
  auto none = resolve_credentials({}, env_.env());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.status().code(), Code::kUsage);
  EXPECT_NE(none.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  env_.vars["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  auto half = resolve_credentials({}, env_.env());
  ASSERT_FALSE(half);
  EXPECT_NE(half.status().message().find("AWS_SECRET_ACCESS_KEY is not"), std::string::npos);
}

TEST(S3Secrets, NeverPrintAndAreRedactedFromText) {
  Credentials c;
  c.access_key_id = "AKIDX";
  c.secret_access_key = Secret("s3cr3t/KEY+x");
  c.session_token = Secret("TOKEN123");
  EXPECT_EQ(fmt::format("{}", c.secret_access_key), "[redacted]");
  EXPECT_EQ(redact("key AKIDX secret s3cr3t/KEY+x token TOKEN123 again s3cr3t/KEY+x", c),
            "key AKIDX secret [redacted] token [redacted] again [redacted]");
  EXPECT_EQ(redact("nothing here", Credentials{}), "nothing here");
}

}  // namespace
}  // namespace kiln::storage::s3
