//! Where the command-line tools print their answers.

use std::io::{self, Write};

/// Standard output for a command whose reader may leave early (`shipgate ... | head -1`):
/// once the pipe is closed the reader has what it wanted, so the command ends at once and
/// quietly, as command-line tools do, instead of reporting a broken pipe.
pub struct Stdout(io::Stdout);

impl Stdout {
    pub fn new() -> Self {
        Self(io::stdout())
    }
}

fn quiet_on_closed_pipe<T>(result: io::Result<T>) -> io::Result<T> {
    if let Err(error) = &result {
        if error.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
    result
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        quiet_on_closed_pipe(self.0.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        quiet_on_closed_pipe(self.0.flush())
    }
}
