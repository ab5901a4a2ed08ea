//! Collecting every failure of a run, reported once, like courier's handler tests.

use std::fmt;

/// One case that did not behave as expected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The file the case came from.
    pub file: String,
    /// The case's label.
    pub label: String,
    /// Every mismatch, each as "what: got …, want …".
    pub problems: Vec<String>,
}

/// The outcome of a run: how many cases ran and which failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// What was run (`webhook` or `send`).
    pub suite: &'static str,
    /// Cases run.
    pub cases: usize,
    /// Cases that failed, in run order.
    pub failures: Vec<Failure>,
}

impl Report {
    pub(crate) fn new(suite: &'static str) -> Self {
        Report {
            suite,
            ..Report::default()
        }
    }

    pub(crate) fn record(&mut self, file: &str, label: &str, problems: Vec<String>) {
        self.cases += 1;
        if !problems.is_empty() {
            self.failures.push(Failure {
                file: file.to_string(),
                label: label.to_string(),
                problems,
            });
        }
    }

    /// How many cases ran.
    pub fn cases(&self) -> usize {
        self.cases
    }

    /// True when every case passed (and there was at least one).
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty() && self.cases > 0
    }

    /// Panics with the whole report unless every case passed.
    #[track_caller]
    pub fn assert_ok(&self) {
        if !self.is_ok() {
            panic!("{self}");
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cases == 0 && self.failures.is_empty() {
            return write!(f, "{} conformance: no cases ran", self.suite);
        }
        write!(
            f,
            "{} conformance: {} of {} cases failed",
            self.suite,
            self.failures.len(),
            self.cases
        )?;
        for failure in &self.failures {
            write!(f, "\n\n[{}] {}", failure.file, failure.label)?;
            for problem in &failure.problems {
                write!(f, "\n  - {}", problem.replace('\n', "\n    "))?;
            }
        }
        Ok(())
    }
}
