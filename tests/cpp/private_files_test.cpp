// The workdir's folders are 0700 and its files 0600, whatever the umask.
#include <sys/stat.h>

#include <fstream>

#include "backfill/core/private_files.hpp"
#include "backfill/journal/journal.hpp"
#include "backfill/ledger/ledger.hpp"
#include "scratch_dir.hpp"

using namespace backfill;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

// Runs the test body under a umask that lets everyone read what is created.
class PrivateFiles : public scratch_dir_test {
 protected:
  void SetUp() override {
    scratch_dir_test::SetUp();
    old_ = ::umask(022);
  }
  void TearDown() override {
    ::umask(old_);
    scratch_dir_test::TearDown();
  }
  mode_t old_ = 0;
};

}  // namespace

TEST_F(PrivateFiles, JournalPagesAndTheirFoldersArePrivate) {
  journal j(dir_ / "work" / "journal");
  fs::path page = j.write_page("jira", "SUBS", 1, R"({"issues":[]})");
  EXPECT_EQ(mode_of(page), 0600u);
  for (fs::path p = page.parent_path(); p != dir_; p = p.parent_path()) EXPECT_EQ(mode_of(p), 0700u) << p;
}

TEST_F(PrivateFiles, TheLedgerAndItsWriteAheadLogArePrivate) {
  {
    ledger book(dir_ / "state.sqlite");
    book.add_partition("jira", "SUBS");
    EXPECT_EQ(mode_of(dir_ / "state.sqlite"), 0600u);
    EXPECT_EQ(mode_of(dir_ / "state.sqlite-wal"), 0600u);
  }
  ::chmod((dir_ / "state.sqlite").c_str(), 0644);
  ledger again(dir_ / "state.sqlite");
  EXPECT_EQ(mode_of(dir_ / "state.sqlite"), 0600u);  // an existing, wider ledger is tightened
}

TEST_F(PrivateFiles, AWiderTreeIsTightenedWithoutFollowingLinks) {
  fs::create_directories(dir_ / "w" / "journal" / "x");
  std::ofstream(dir_ / "w" / "journal" / "x" / "1.json") << "{}";
  std::ofstream(dir_ / "outside.txt") << "not ours";
  ::chmod((dir_ / "outside.txt").c_str(), 0644);
  fs::create_symlink(dir_ / "outside.txt", dir_ / "w" / "link");
  EXPECT_EQ(tighten_tree(dir_ / "w"), 4u);  // w, journal, x, 1.json
  EXPECT_EQ(mode_of(dir_ / "w"), 0700u);
  EXPECT_EQ(mode_of(dir_ / "w" / "journal" / "x" / "1.json"), 0600u);
  EXPECT_EQ(mode_of(dir_ / "outside.txt"), 0644u);
  EXPECT_EQ(tighten_tree(dir_ / "w"), 0u);
}
