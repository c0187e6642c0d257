// A Slack export is read only inside itself: no link or special file in an unpacked folder is
// followed or opened, and a zip whose entries name a path outside it, or one path twice, is refused.
#include <sys/stat.h>
#include <zip.h>

#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "backfill/core/errors.hpp"
#include "backfill/sources/slack_export/slack_export.hpp"
#include "scratch_dir.hpp"

using namespace backfill;
namespace fs = std::filesystem;

namespace {

const std::map<std::string, std::string> kExport = {
    {"users.json", R"([{"id":"U1","name":"ada"}])"},
    {"channels.json", R"([{"id":"C1","name":"general","created":1690000000}])"},
    {"general/2023-11-14.json",
     R"([{"type":"message","user":"U1","ts":"1699999999.000100","text":"inside"}])"},
};
const std::string kOutside = R"([{"type":"message","user":"U1","ts":"1700000000.000100","text":"OUTSIDE"}])";

class SlackExportSafety : public scratch_dir_test {
 protected:
  fs::path write_folder(const std::string& name) {
    fs::path root = dir_ / name;
    for (const auto& [rel, body] : kExport) {
      fs::create_directories((root / rel).parent_path());
      std::ofstream(root / rel) << body;
    }
    fs::create_directories(dir_ / "elsewhere");
    std::ofstream(dir_ / "elsewhere" / "2023-11-15.json") << kOutside;
    return root;
  }
  // Fetches every partition; returns the pages' bodies, or throws what the source threw.
  std::string fetch_everything(const fs::path& path) {
    slack_export_options o;
    o.path = path;
    slack_export_source src(o);
    run_context ctx;
    struct collect final : page_sink {
      std::string all;
      void page(std::string_view body, std::int64_t, std::string_view, std::string_view) override {
        all += body;
      }
    } out;
    for (const auto& p : src.plan(ctx)) src.fetch(p, "", out, ctx);
    return out.all;
  }
  void expect_refused(const fs::path& path, const std::string& named, const std::string& why) {
    try {
      std::string got = fetch_everything(path);
      ADD_FAILURE() << "read through " << named << ": " << got;
    } catch (const error& e) {
      std::string w = e.what();
      EXPECT_NE(w.find(named), std::string::npos) << w;
      EXPECT_NE(w.find(why), std::string::npos) << w;
      EXPECT_EQ(w.find("OUTSIDE"), std::string::npos) << w;
    }
  }
  fs::path write_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
    fs::path zip_path = dir_ / "export.zip";
    int code = 0;
    zip_t* za = zip_open(zip_path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    EXPECT_NE(za, nullptr);
    for (const auto& [name, body] : entries) {
      zip_source_t* src = zip_source_buffer(za, body.data(), body.size(), 0);
      EXPECT_GE(zip_file_add(za, name.c_str(), src, ZIP_FL_ENC_UTF_8), 0) << name << ": " << zip_strerror(za);
    }
    EXPECT_EQ(zip_close(za), 0);
    return zip_path;
  }
  std::vector<std::pair<std::string, std::string>> zip_entries() { return {kExport.begin(), kExport.end()}; }
};

}  // namespace

TEST_F(SlackExportSafety, TheFolderAsWrittenIsRead) {
  EXPECT_NE(fetch_everything(write_folder("export")).find("inside"), std::string::npos);
}

TEST_F(SlackExportSafety, ADayFileLinkingOutsideIsRefused) {
  fs::path root = write_folder("export");
  fs::create_symlink(dir_ / "elsewhere" / "2023-11-15.json", root / "general" / "2023-11-15.json");
  expect_refused(root, "general/2023-11-15.json", "symbolic link");
}

TEST_F(SlackExportSafety, AChannelFolderLinkingOutsideIsRefused) {
  fs::path root = write_folder("export");
  fs::remove_all(root / "general");
  fs::create_directory_symlink(dir_ / "elsewhere", root / "general");
  expect_refused(root, "general", "symbolic link");
}

TEST_F(SlackExportSafety, AListFileLinkingOutsideIsRefused) {
  fs::path root = write_folder("export");
  std::ofstream(dir_ / "elsewhere" / "groups.json") << R"([{"id":"G1","name":"OUTSIDE"}])";
  fs::create_symlink(dir_ / "elsewhere" / "groups.json", root / "groups.json");
  expect_refused(root, "groups.json", "symbolic link");
}

TEST_F(SlackExportSafety, AFifoIsNeitherOpenedNorWaitedFor) {
  fs::path root = write_folder("export");
  ASSERT_EQ(::mkfifo((root / "general" / "2023-11-16.json").c_str(), 0600), 0);
  expect_refused(root, "general/2023-11-16.json", "not a regular file");
}

TEST_F(SlackExportSafety, TheZipAsWrittenIsRead) {
  EXPECT_NE(fetch_everything(write_zip(zip_entries())).find("inside"), std::string::npos);
}

TEST_F(SlackExportSafety, ZipEntriesReachingOutsideAreRefused) {
  for (const std::string& bad :
       {std::string("/etc/2023-11-15.json"), std::string("../2023-11-15.json"),
        std::string("general/../../2023-11-15.json"), std::string("..\\x.json"), std::string("C:/x.json")}) {
    auto entries = zip_entries();
    entries.emplace_back(bad, kOutside);
    try {
      slack_export_options o;
      o.path = write_zip(entries);
      slack_export_source src(o);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const config_error& e) {
      std::string w = e.what();
      EXPECT_NE(w.find("\"" + bad + "\""), std::string::npos) << w;
      EXPECT_TRUE(w.find("absolute path") != std::string::npos || w.find("'..'") != std::string::npos) << w;
    }
  }
}

TEST_F(SlackExportSafety, ADuplicateZipEntryIsRefused) {
  // Two entries that differ in one byte of their names, then made the same in the file itself
  // (libzip refuses to write a name twice; other tools do not).
  auto entries = zip_entries();
  entries.emplace_back("general/2023-11-1X.json", kOutside);
  entries.emplace_back("general/2023-11-15.json", kOutside);
  fs::path zip_path = write_zip(entries);
  std::string bytes;
  {
    std::ifstream in(zip_path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (std::size_t at = bytes.find("2023-11-1X"); at != std::string::npos; at = bytes.find("2023-11-1X"))
    bytes[at + 9] = '4';
  std::ofstream(zip_path, std::ios::binary | std::ios::trunc) << bytes;
  try {
    slack_export_options o;
    o.path = zip_path;
    slack_export_source src(o);
    ADD_FAILURE() << "a zip with a name twice was accepted";
  } catch (const config_error& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("\"general/2023-11-14.json\" appears twice"), std::string::npos) << w;
  }
}
