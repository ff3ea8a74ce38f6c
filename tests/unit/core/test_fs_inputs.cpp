// Output-path checks that know the inputs of the command (issue 10): an output never resolves to an input,
// whatever the spelling (./, .., symlink, hard link), with or without overwrite.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "support/test_support.hpp"

using namespace ned;
namespace fs = std::filesystem;

namespace {
struct ClearInputs {
    ClearInputs() { clear_declared_inputs(); }
    ~ClearInputs() { clear_declared_inputs(); }
};
}  // namespace

TEST(FsInputs, OutputNeverResolvesToADeclaredInput) {
    ClearInputs guard;
    test::TempDir dir;
    fs::create_directories(dir / "sub");
    std::ofstream(dir / "in.mp4") << "precious";
    fs::create_symlink(dir / "in.mp4", dir / "link.mp4");
    fs::create_hard_link(dir / "in.mp4", dir / "hard.mp4");
    declare_input(dir / "in.mp4", "input video");
    for (const std::string& spelling :
         {dir / "in.mp4", dir / "./in.mp4", dir / "sub/../in.mp4", dir / "link.mp4", dir / "hard.mp4"}) {
        for (bool overwrite : {false, true}) {
            try {
                check_output_path(spelling, overwrite, "output video");
                ADD_FAILURE() << spelling << " accepted";
            } catch (const InputError& e) {
                EXPECT_NE(std::string(e.what()).find("is the input video"), std::string::npos) << e.what();
            }
        }
        EXPECT_THROW(AtomicFile(spelling, true), InputError) << spelling;
    }
    // Other paths are fine; folders and empty paths are never inputs.
    EXPECT_NO_THROW(check_output_path(dir / "out.mp4", false));
    declare_input("", "nothing");
    declare_input(dir.path(), "a folder");
    EXPECT_NO_THROW(check_output_path(dir / "out.mp4", false));
    std::ifstream kept(dir / "in.mp4");
    std::string content((std::istreambuf_iterator<char>(kept)), std::istreambuf_iterator<char>());
    EXPECT_EQ(content, "precious");
}

TEST(FsInputs, CheckInputFileDeclaresTheInput) {
    ClearInputs guard;
    test::TempDir dir;
    std::ofstream(dir / "track.safetensors") << "x";
    check_input_file(dir / "track.safetensors", "track file");
    EXPECT_THROW(check_output_path(dir / "track.safetensors", true, "reconstruction"), InputError);
    // An input that does not exist yet (a typo) still blocks the same path.
    declare_input(dir / "later.mp4", "input video");
    EXPECT_THROW(check_output_path(dir / "later.mp4", true), InputError);
}

TEST(FsInputs, ExtensionsAndUnwritableFolders) {
    test::TempDir dir;
    EXPECT_NO_THROW(check_extension(dir / "a.MP4", {".mp4", ".mkv"}, "preview"));
    EXPECT_THROW(check_extension(dir / "a.gif", {".mp4", ".mkv"}, "preview"), InputError);
    EXPECT_THROW(check_extension(dir / "noext", {".png"}, "preview"), InputError);
    if (::geteuid() != 0) {  // root writes anywhere
        fs::create_directories(dir / "ro");
        fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
        EXPECT_THROW(check_output_path(dir / "ro/out.mp4", true), InputError);
        fs::permissions(dir / "ro", fs::perms::owner_all);
    }
}

TEST(FsInputs, CleanupRegistrySlotsAreReused) {
    test::TempDir dir;
    std::vector<int> slots;
    for (int i = 0; i < 300; ++i) slots.push_back(register_cleanup(dir / ("f" + std::to_string(i))));
    EXPECT_GE(slots[0], 0);
    EXPECT_EQ(slots.back(), -1);  // full: not registered, no crash
    for (int s : slots) unregister_cleanup(s);
    const int again = register_cleanup(dir / "g");
    EXPECT_GE(again, 0);
    unregister_cleanup(again);
}
