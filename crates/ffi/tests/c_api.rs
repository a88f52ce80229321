//! The C API test suite: builds every `tests/c/test_*.c` program with the
//! system C compiler against `include/zmq.h` and the `libzmq.so` cargo
//! built for this profile, runs it, and fails with its output if it fails.
//!
//! One `#[test]` per C file, so failures are reported per API area; plus
//! one program linked statically against `libzmq.a`.
//!
//! The C programs are written against libzmq 4.3's documented behaviour
//! and pass against the reference libzmq. To run them through this
//! harness against another libzmq, set both
//!
//! * `ZMQ_CTEST_INCLUDE_DIR`: the directory holding that `zmq.h`, and
//! * `ZMQ_CTEST_LINK_ARGS`: the linker arguments, whitespace separated,
//!   e.g. `/path/to/libzmq.a -lstdc++ -lpthread`.
//!
//! (`tests/c/run-against.sh` does the same without cargo.)
//!
//! `CC` picks the compiler (default `cc`).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// How long one C program may run before it is killed.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The libraries a Rust staticlib needs on Linux (what
/// `rustc --print native-static-libs` lists for glibc targets).
const STATIC_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn c_dir() -> PathBuf {
    crate_dir().join("tests").join("c")
}

/// `target/<profile>` (or `target/<triple>/<profile>`): this test
/// executable lives in its `deps` directory, next to the libraries cargo
/// built for the same profile.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a directory");
    assert_eq!(
        deps.file_name().and_then(|n| n.to_str()),
        Some("deps"),
        "unexpected test executable location {}",
        exe.display()
    );
    deps.parent().expect("deps has a parent").to_path_buf()
}

/// A scratch directory for one test's builds.
fn work_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("c_api")
        .join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).expect("clear scratch directory");
    }
    fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir` (recursively) with one of the extensions.
fn files_under(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, exts, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
        {
            out.push(path);
        }
    }
}

/// The library `file_name` (libzmq.so or libzmq.a) cargo built for this
/// profile, checked to be newer than the sources it is built from, so the
/// C programs never test a stale build.
///
/// `cargo test` builds a package's library before its integration tests
/// only if the library is linkable by Rust (crate-type "rlib" or "lib");
/// it then leaves the cdylib and staticlib in `target/<profile>/deps/`.
/// `cargo build` puts them in `target/<profile>/`. The newer one wins.
fn built_lib(file_name: &str) -> PathBuf {
    let profile = profile_dir();
    let lib = [
        profile.join("deps").join(file_name),
        profile.join(file_name),
    ]
    .into_iter()
    .filter(|p| p.is_file())
    .max_by_key(|p| mtime(p))
    .unwrap_or_else(|| {
        panic!(
            "no {file_name} in {} or its deps directory: build it first \
                 (cargo build -p ferromq-ffi, with the same profile as this test)",
            profile.display()
        )
    });
    check_fresh(&lib);
    lib
}

fn check_fresh(lib: &Path) {
    let built = mtime(lib);
    let mut sources = Vec::new();
    // This crate and the path dependencies it wraps.
    for dir in [
        crate_dir(),
        crate_dir().join("../ferromq"),
        crate_dir().join("../proto"),
    ] {
        files_under(&dir.join("src"), &["rs"], &mut sources);
        sources.push(dir.join("Cargo.toml"));
    }
    sources.push(crate_dir().join("build.rs"));
    for source in sources.iter().filter(|s| s.exists()) {
        assert!(
            mtime(source) <= built,
            "{} is older than {}: rebuild it (cargo build -p ferromq-ffi, \
             with the same profile as this test)",
            lib.display(),
            source.display()
        );
    }
}

/// What to compile and link against.
enum Target {
    /// Our libzmq.so, through `dir/libzmq.so.5` (its SONAME).
    Shared { lib_dir: PathBuf, real_lib: PathBuf },
    /// Our libzmq.a.
    Static { archive: PathBuf },
    /// Another libzmq, from the environment.
    External {
        include: PathBuf,
        link_args: Vec<String>,
    },
}

fn external() -> Option<Target> {
    let include = std::env::var_os("ZMQ_CTEST_INCLUDE_DIR")?;
    let link_args = std::env::var("ZMQ_CTEST_LINK_ARGS")
        .expect("ZMQ_CTEST_LINK_ARGS must be set with ZMQ_CTEST_INCLUDE_DIR");
    Some(Target::External {
        include: PathBuf::from(include),
        link_args: link_args.split_whitespace().map(String::from).collect(),
    })
}

/// Our libzmq.so, found next to this test, made reachable under its
/// SONAME in a private directory (the build leaves only `libzmq.so`).
fn shared(work: &Path) -> Target {
    let real_lib = built_lib("libzmq.so");
    let lib_dir = work.join("lib");
    fs::create_dir_all(&lib_dir).expect("create lib directory");
    for name in ["libzmq.so", "libzmq.so.5"] {
        std::os::unix::fs::symlink(&real_lib, lib_dir.join(name)).expect("symlink libzmq");
    }
    Target::Shared { lib_dir, real_lib }
}

fn include_dir(target: &Target) -> PathBuf {
    match target {
        Target::External { include, .. } => include.clone(),
        _ => crate_dir().join("include"),
    }
}

/// Compiles tests/c/<name>.c into `work`; returns the program.
fn compile(name: &str, target: &Target, work: &Path) -> PathBuf {
    let include = include_dir(target);
    assert!(
        include.join("zmq.h").is_file(),
        "{} does not exist",
        include.join("zmq.h").display()
    );
    let program = work.join(name);
    let cc = std::env::var_os("CC").unwrap_or_else(|| OsString::from("cc"));
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=gnu11", "-O1", "-g", "-Wall", "-Wextra"])
        .arg("-I")
        .arg(&include)
        .arg("-I")
        .arg(c_dir())
        .arg("-o")
        .arg(&program)
        .arg(c_dir().join(format!("{name}.c")));
    match target {
        Target::Shared { lib_dir, .. } => {
            cmd.arg(format!("-L{}", lib_dir.display()))
                .arg("-lzmq")
                .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
                .arg("-lpthread");
        }
        Target::Static { archive } => {
            cmd.arg(archive).args(STATIC_LIBS);
        }
        Target::External { link_args, .. } => {
            cmd.args(link_args).arg("-lpthread");
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cc.to_string_lossy()));
    assert!(
        out.status.success(),
        "compiling {name}.c failed ({:?}):\n{}{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    program
}

/// `ldd program`: which libzmq it loads, if any.
fn loaded_libzmq(program: &Path) -> Option<PathBuf> {
    let out = Command::new("ldd")
        .arg(program)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run ldd");
    assert!(out.status.success(), "ldd {} failed", program.display());
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|line| {
        let (name, rest) = line.trim().split_once(" => ")?;
        if !name.starts_with("libzmq") {
            return None;
        }
        let path = rest.split(" (").next()?.trim();
        assert!(path != "not found", "ldd: {name} not found:\n{text}");
        Some(PathBuf::from(path))
    })
}

/// Checks that the program loads the library it was built against.
fn check_linkage(program: &Path, target: &Target) {
    match target {
        Target::Shared { real_lib, .. } => {
            let loaded = loaded_libzmq(program)
                .unwrap_or_else(|| panic!("{} does not load libzmq", program.display()));
            let loaded = fs::canonicalize(&loaded).expect("canonicalize loaded libzmq");
            let expected = fs::canonicalize(real_lib).expect("canonicalize libzmq.so");
            assert_eq!(
                loaded,
                expected,
                "{} loads the wrong libzmq",
                program.display()
            );
        }
        Target::Static { .. } => {
            assert_eq!(
                loaded_libzmq(program),
                None,
                "{} should not load a shared libzmq",
                program.display()
            );
        }
        Target::External { .. } => {}
    }
}

/// Runs the program with the timeout; returns its status and output.
fn run(program: &Path, work: &Path) -> (Option<i32>, String) {
    let log = work.join("output.log");
    let file = fs::File::create(&log).expect("create log");
    let mut child = Command::new(program)
        .current_dir(work)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone log"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for C test") {
            break Some(status);
        }
        if start.elapsed() > TIMEOUT {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let output = fs::read_to_string(&log).unwrap_or_default();
    match status {
        Some(status) => (status.code(), output),
        None => (
            None,
            format!("{output}\n*** killed after {} s ***", TIMEOUT.as_secs()),
        ),
    }
}

fn run_c_test_with(name: &str, target: Target, work: &Path) {
    let program = compile(name, &target, work);
    check_linkage(&program, &target);
    let (code, output) = run(&program, work);
    if code != Some(0) {
        panic!(
            "C test {name} failed (exit status {code:?}):\n\
             ---- output ----\n{output}---- end ----"
        );
    }
    // The program says it got to the end; a bare exit(0) does not count.
    assert!(
        output.contains(&format!("== {name}: OK")),
        "C test {name} exited 0 without finishing:\n{output}"
    );
}

fn run_c_test(name: &str) {
    let work = work_dir(name);
    let target = external().unwrap_or_else(|| shared(&work));
    run_c_test_with(name, target, &work);
}

/// One `#[test]` per C program, and `C_TESTS` listing them all
/// (`every_c_file_is_listed` keeps it in step with the directory).
macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {
        const C_TESTS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_c_test(stringify!($name));
            }
        )*
    };
}

c_tests!(
    test_version,
    test_ctx,
    test_sockopt,
    test_sendrecv,
    test_msg,
    test_poll,
    test_proxy,
    test_monitor,
    test_utils,
);

/// One program, linked against libzmq.a instead: the static library
/// carries everything a C program needs.
#[test]
fn static_link_test_sendrecv() {
    if external().is_some() {
        eprintln!("skipped: ZMQ_CTEST_INCLUDE_DIR selects another libzmq");
        return;
    }
    let archive = built_lib("libzmq.a");
    let work = work_dir("static_test_sendrecv");
    run_c_test_with("test_sendrecv", Target::Static { archive }, &work);
}

#[test]
fn every_c_file_is_listed() {
    let mut found = Vec::new();
    files_under(&c_dir(), &["c"], &mut found);
    let mut names: Vec<String> = found
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(String::from))
        .filter(|n| n.starts_with("test_"))
        .collect();
    names.sort();
    let mut listed: Vec<String> = C_TESTS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        names, listed,
        "the test_*.c files in tests/c and the c_tests! list differ"
    );
}
