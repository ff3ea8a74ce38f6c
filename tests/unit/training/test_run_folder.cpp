// ned::training::RunFolder: --out checked, created late, a fresh start's clean-up, the checked loss log, a folder
// that a failed run created removed again; other ranks touch nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ned/core/error.hpp"
#include "ned/training/run_folder.hpp"
#include "support/test_support.hpp"

using namespace ned;
using ned::training::RunFolder;
namespace fs = std::filesystem;

namespace {
void touch(const fs::path& p) { std::ofstream(p) << "x\n"; }
int lines(const fs::path& p) {
    std::ifstream is(p);
    std::string l;
    int n = 0;
    while (std::getline(is, l)) ++n;
    return n;
}
}  // namespace

TEST(RunFolder, FreshFolderIsCreatedLateAndRemovedWhenAFailedRunLeftItEmpty) {
    test::TempDir dir;
    {
        RunFolder f(dir / "run", "", true);
        EXPECT_FALSE(f.existed());
        f.check_usable();
        EXPECT_FALSE(fs::exists(dir / "run")) << "checking creates nothing";
        f.create();
        f.remove_if_left_empty();
        EXPECT_TRUE(fs::is_directory(dir / "run"));
    }  // e.g. an exception before the first checkpoint
    EXPECT_FALSE(fs::exists(dir / "run"));
    {
        RunFolder f(dir / "run", "", true);
        f.create("preview");
        f.remove_if_left_empty();
        f.append_losses({{"epoch", 1}});
    }
    EXPECT_TRUE(fs::exists(dir / "run/losses.jsonl")) << "a folder with outputs stays";
    {
        RunFolder f(dir / "run", "", true);  // existed: never removed, even when empty
        EXPECT_TRUE(f.existed());
        fs::remove(dir / "run/losses.jsonl");
        fs::remove(dir / "run/preview");
        f.remove_if_left_empty();
    }
    EXPECT_TRUE(fs::is_directory(dir / "run"));
}

TEST(RunFolder, OutIsCheckedWithOneMessageNamingIt) {
    test::TempDir dir;
    touch(dir / "file");
    auto refused = [](const fs::path& p) {
        try {
            RunFolder(p, "[t] ", true).check_usable();
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_NE(refused(dir / "file").find("[t] --out " + std::string(dir / "file") + ": exists and is not a folder"),
              std::string::npos);
    EXPECT_NE(refused(dir / "missing/run").find("parent folder"), std::string::npos);
    EXPECT_NE(refused(dir / "file/run").find("parent folder"), std::string::npos);
    EXPECT_EQ(refused(dir / "new"), "");
    EXPECT_EQ(refused(dir.path()), "");
    if (::geteuid() != 0) {  // root writes anywhere
        fs::create_directories(dir / "ro");
        fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
        EXPECT_NE(refused(dir / "ro").find("not writable"), std::string::npos);
        EXPECT_NE(refused(dir / "ro/run").find("cannot be created in"), std::string::npos);
        fs::permissions(dir / "ro", fs::perms::owner_all);
    }
    // creation where it cannot be: InputError naming --out and what
    RunFolder f(dir / "file", "[t] ", true);
    try {
        f.create("preview");
        ADD_FAILURE() << "created under a file";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("[t] --out " + std::string(dir / "file") + ": cannot create "),
                  std::string::npos)
            << e.what();
    }
}

TEST(RunFolder, FreshStartRemovesOnlyThePreviousRunsFiles) {
    test::TempDir dir;
    fs::create_directories(dir / "run/preview");
    fs::create_directories(dir / "run/cache");
    for (const char* n : {"losses.jsonl", "state.safetensors", "epoch_01.safetensors", "notes.txt", "preview/a.jpg",
                          "preview/b.jpg", "cache/c.png"})
        touch(fs::path(dir / "run") / n);
    RunFolder f(dir / "run", "", true);
    f.clear_previous_run([](const std::string& n) { return n != "notes.txt" && n != "cache" && n != "preview"; },
                         {"preview"});
    for (const char* gone :
         {"losses.jsonl", "state.safetensors", "epoch_01.safetensors", "preview/a.jpg", "preview/b.jpg"})
        EXPECT_FALSE(fs::exists(fs::path(dir / "run") / gone)) << gone;
    for (const char* kept : {"notes.txt", "cache/c.png", "preview"})
        EXPECT_TRUE(fs::exists(fs::path(dir / "run") / kept)) << kept;
}

TEST(RunFolder, LossLogAppendsAndReportsAFailedWrite) {
    test::TempDir dir;
    RunFolder f(dir.path(), "[t] ", true);
    f.append_losses({{"epoch", 1}, {"loss", 0.5}});
    f.append_losses({{"epoch", 2}, {"loss", 0.25}});
    EXPECT_EQ(lines(dir / "losses.jsonl"), 2);
    {
        std::ifstream is(dir / "losses.jsonl");
        std::string first;
        std::getline(is, first);
        EXPECT_EQ(nlohmann::json::parse(first)["loss"].get<double>(), 0.5);
    }
    // cannot be opened (a folder under its name)
    test::TempDir d2;
    fs::create_directories(d2 / "losses.jsonl");
    RunFolder g(d2.path(), "[t] ", true);
    try {
        g.append_losses({{"epoch", 1}});
        ADD_FAILURE() << "no error";
    } catch (const IoError& e) {
        EXPECT_EQ(std::string(e.what()), "[t] could not write " + std::string(d2 / "losses.jsonl"));
    }
    // a full disk: the line is flushed and checked
    if (fs::exists("/dev/full")) {
        test::TempDir d3;
        fs::create_symlink("/dev/full", d3 / "losses.jsonl");
        RunFolder h(d3.path(), "", true);
        EXPECT_THROW(h.append_losses({{"epoch", 1}}), IoError);
    }
}

TEST(RunFolder, OtherRanksTouchNothing) {
    test::TempDir dir;
    touch(dir / "file");
    RunFolder f(dir / "file", "", false);
    EXPECT_FALSE(f.existed());
    EXPECT_NO_THROW(f.check_usable());
    RunFolder g(dir / "run", "", false);
    g.create("preview");
    g.append_losses({{"epoch", 1}});
    EXPECT_FALSE(fs::exists(dir / "run"));
    touch(dir / "losses.jsonl");
    RunFolder h(dir.path(), "", false);
    h.clear_previous_run([](const std::string&) { return true; });
    EXPECT_TRUE(fs::exists(dir / "losses.jsonl"));
}
