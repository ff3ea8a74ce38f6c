// ned::OutputDir (issue 10): an image folder a failed or interrupted run leaves as it found it.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/output_dir.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace ned;

namespace {
void touch(const std::string& path) { std::ofstream(path) << "x"; }
int count_files(const std::string& dir) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
    return n;
}
}  // namespace

TEST(OutputDir, FrameFileNames) {
    EXPECT_TRUE(is_frame_file_name("000007.png", ".png"));
    EXPECT_TRUE(is_frame_file_name("1234567.png", ".png"));
    EXPECT_FALSE(is_frame_file_name("00007.png", ".png"));
    EXPECT_FALSE(is_frame_file_name("000007.png.bak", ".png"));
    EXPECT_FALSE(is_frame_file_name("000007.jpg", ".png"));
    EXPECT_FALSE(is_frame_file_name("a000007.png", ".png"));
    EXPECT_FALSE(is_frame_file_name(".000007.tmp-1.png", ".png"));
}

TEST(OutputDir, FailureRemovesImagesAndCreatedFolders) {
    test::TempDir dir;
    const std::string out = dir / "a/b/crops";
    {
        OutputDir d(out, false);
        EXPECT_TRUE(d.created());
        for (int t = 0; t < 300; ++t) touch(out + "/" + frame_name(t, ".png"));
        touch(out + "/.000300.tmp-123-45.png");  // an AtomicFile temporary of a frame being written
    }                                            // no commit: a failure
    EXPECT_FALSE(fs::exists(dir / "a"));         // a/ and a/b/ were created by this run too
    {
        OutputDir d(out, false);
        touch(out + "/" + frame_name(0, ".png"));
        touch(out + "/notes.txt");  // not ours: kept, and so is its folder
    }
    EXPECT_TRUE(fs::exists(out + "/notes.txt"));
    EXPECT_EQ(count_files(out), 1);
}

TEST(OutputDir, ExistingFolderIsKeptAndStaleFramesNeedOverwrite) {
    test::TempDir dir;
    const std::string out = dir / "faces";
    fs::create_directories(out);
    touch(out + "/" + frame_name(3, ".png"));
    touch(out + "/keep.png");
    EXPECT_THROW(OutputDir(out, false), InputError);
    EXPECT_TRUE(fs::exists(out + "/" + frame_name(3, ".png")));
    {
        OutputDir d(out, true);
        EXPECT_FALSE(d.created());
        EXPECT_FALSE(fs::exists(out + "/" + frame_name(3, ".png")));  // stale frame removed
        touch(out + "/" + frame_name(0, ".png"));
    }
    EXPECT_TRUE(fs::is_directory(out));  // existed before: never removed
    EXPECT_TRUE(fs::exists(out + "/keep.png"));
    EXPECT_EQ(count_files(out), 1);
}

TEST(OutputDir, CommitKeepsTheImages) {
    test::TempDir dir;
    const std::string out = dir / "new";
    {
        OutputDir d(out, false);
        touch(out + "/" + frame_name(0, ".png"));
        d.commit();
    }
    EXPECT_TRUE(fs::exists(out + "/" + frame_name(0, ".png")));
}

TEST(OutputDir, NotAFolder) {
    test::TempDir dir;
    touch(dir / "file");
    EXPECT_THROW(OutputDir(dir / "file", true), InputError);
}

// A signal while images are being written: the images and the folders the run created are removed by the
// signal handler (exit 128 + signal), nested folders included.
TEST(OutputDirDeathTest, SignalRemovesImagesAndCreatedFolders) {
    GTEST_FLAG_SET(death_test_style,
                   "fast");  // the child must see this test's folder (a re-executed binary would make its own)
    test::TempDir dir;
    const std::string root = dir / "work";
    EXPECT_EXIT(
        {
            install_signal_cleanup();
            OutputDir a(root + "/conditioning/nmfc", false);
            OutputDir b(root + "/conditioning/crop/nmfc", false);
            for (int t = 0; t < 50; ++t) {
                touch(a.path() + "/" + frame_name(t, ".png"));
                touch(b.path() + "/" + frame_name(t, ".png"));
            }
            std::raise(SIGTERM);
        },
        testing::ExitedWithCode(128 + SIGTERM), "terminated");
    EXPECT_FALSE(fs::exists(root)) << "left behind: " << root;
}

// TempDir: the whole tree (nested folders, files, links) goes with the object; a link's target survives.
TEST(TempDir, DestructorRemovesTheWholeTreeButNotLinkTargets) {
    test::TempDir outside;
    touch(outside / "keep.txt");
    std::string path;
    {
        TempDir t("ned-test");
        path = t.path();
        ASSERT_TRUE(fs::is_directory(path));
        EXPECT_TRUE(fs::path(path).is_absolute());
        fs::create_directories(path + "/a/b/c");
        touch(path + "/a/b/c/000001.png");
        touch(path + "/x.json");
        fs::create_directory_symlink(outside.path(), path + "/a/link");
    }
    EXPECT_FALSE(fs::exists(path));
    EXPECT_TRUE(fs::exists(outside / "keep.txt"));
}

// A signal: the handler of install_signal_cleanup removes the registered tree (exit 128 + signal).
TEST(TempDirDeathTest, SignalRemovesTheWholeTree) {
    GTEST_FLAG_SET(death_test_style, "fast");
    test::TempDir dir;
    const std::string marker = dir / "path.txt";
    EXPECT_EXIT(
        {
            install_signal_cleanup();
            TempDir t("ned-test");
            std::ofstream(marker) << t.path();
            fs::create_directories(t.path() + "/stages/deep/er");
            for (int i = 0; i < 20; ++i) touch(t.path() + "/stages/deep/er/" + frame_name(i, ".png"));
            touch(t.path() + "/.lock");
            std::raise(SIGINT);
        },
        testing::ExitedWithCode(128 + SIGINT), "interrupted");
    std::string path;
    std::ifstream(marker) >> path;
    ASSERT_FALSE(path.empty());
    EXPECT_FALSE(fs::exists(path)) << "left behind: " << path;
}

// OutputFolder: checked before anything is made; restore() gives the folder back as it was.
TEST(OutputFolder, ANewFolderAndItsMissingParentsAreRemovedOnRestore) {
    ned::test::TempDir dir;
    ned::OutputFolder f(dir / "a/b/run", "--out");
    EXPECT_FALSE(fs::exists(dir / "a"));  // the constructor only checks
    f.create();
    ASSERT_TRUE(fs::is_directory(dir / "a/b/run"));
    std::ofstream(dir / "a/b/run/x.txt") << "x";
    f.restore();
    EXPECT_FALSE(fs::exists(dir / "a"));
    EXPECT_TRUE(fs::is_directory(dir.path()));
}

TEST(OutputFolder, AnExistingFolderKeepsTheUsersEntriesAndLosesWhatTheRunAdded) {
    ned::test::TempDir dir;
    const std::string out = dir / "run";
    fs::create_directories(out + "/cache");
    std::ofstream(out + "/mine.txt") << "user";
    std::ofstream(out + "/cache/old.bin") << "old";
    ned::OutputFolder f(out, "--out");
    f.create({"cache"});
    std::ofstream(out + "/new.txt") << "run";
    std::ofstream(out + "/cache/new.bin") << "run";
    fs::create_directories(out + "/preview/deep");
    f.restore();
    EXPECT_TRUE(fs::exists(out + "/mine.txt"));
    EXPECT_TRUE(fs::exists(out + "/cache/old.bin"));
    EXPECT_FALSE(fs::exists(out + "/new.txt"));
    EXPECT_FALSE(fs::exists(out + "/cache/new.bin"));
    EXPECT_FALSE(fs::exists(out + "/preview"));
}

TEST(OutputFolder, AFileOrAPathBelowAFileIsRefusedUpFront) {
    ned::test::TempDir dir;
    std::ofstream(dir / "f.txt") << "a file";
    EXPECT_THROW(ned::OutputFolder(dir / "f.txt", "--out"), ned::InputError);
    EXPECT_THROW(ned::OutputFolder(dir / "f.txt/run", "--out"), ned::InputError);
    ned::OutputFolder unused(dir / "fine", "--out");  // never created: restore() does nothing
    unused.restore();
    EXPECT_TRUE(fs::exists(dir / "f.txt"));
}
