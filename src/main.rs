//! `yoloq-gen` command line. Argument parsing lives in `cli/mod.rs`; each command in its own file.

mod cli;

fn main() {
    yoloq_gen::util::interrupt::install_handler();
    if let Err(e) = cli::run() {
        // One line, naming the file or argument and the fix; the chain adds detail.
        let mut msg = format!("error: {e}");
        for cause in e.chain().skip(1) {
            let c = cause.to_string();
            if !msg.contains(&c) {
                msg.push_str(&format!(": {c}"));
            }
        }
        eprintln!("{}", msg.replace('\n', " "));
        std::process::exit(1);
    }
}
