//! The rustyline helper: completion and the completeness rule from
//! [`crate::complete`], hints, and a little colour.

use crate::complete::{self, call_signatures, complete_in, Completeness, Vocabulary};
use crate::script::Session;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

/// Completion, hints and multi-line input for one session.
pub struct ReplHelper {
    session: Rc<RefCell<Session>>,
    vocab: RefCell<Option<Rc<Vocabulary>>>,
    color: bool,
}

impl ReplHelper {
    /// A helper reading names from `session`; `color` for dim hints.
    pub fn new(session: Rc<RefCell<Session>>, color: bool) -> ReplHelper {
        ReplHelper {
            session,
            vocab: RefCell::new(None),
            color,
        }
    }

    /// Forgets the gathered names (after each input: variables change).
    pub fn invalidate(&self) {
        self.vocab.replace(None);
    }

    fn vocab(&self) -> Rc<Vocabulary> {
        if let Some(v) = self.vocab.borrow().as_ref() {
            return v.clone();
        }
        let v = match self.session.try_borrow() {
            Ok(s) => Rc::new(Vocabulary::of(&s)),
            Err(_) => return Rc::new(Vocabulary::default()),
        };
        self.vocab.replace(Some(v.clone()));
        v
    }
}

/// A hint after the cursor: the rest of a name (→ accepts it) or the
/// signature of the call being typed (shown only).
pub struct ReplHint {
    display: String,
    completion: Option<String>,
}

impl Hint for ReplHint {
    fn display(&self) -> &str {
        &self.display
    }

    fn completion(&self) -> Option<&str> {
        self.completion.as_deref()
    }
}

/// The hint for `line` with the cursor at `pos`, if any.
pub fn hint_for(vocab: &Vocabulary, line: &str, pos: usize) -> Option<ReplHint> {
    if pos < line.len() || line.trim_start().starts_with(':') {
        return None;
    }
    let c = complete_in(vocab, line, pos);
    let prefix = &line[c.start..c.end];
    if prefix.chars().count() >= 2 {
        if let [only] = c.candidates.as_slice() {
            if only.len() > prefix.len() && only.starts_with(prefix) {
                let rest = only[prefix.len()..].to_string();
                return Some(ReplHint {
                    display: rest.clone(),
                    completion: Some(rest),
                });
            }
        }
    }
    let sigs = call_signatures(vocab, line, pos);
    let longest = sigs.iter().max_by_key(|s| s.len())?;
    let more = if sigs.len() > 1 {
        format!("  (+{} more: :help)", sigs.len() - 1)
    } else {
        String::new()
    };
    Some(ReplHint {
        display: format!("   {longest}{more}"),
        completion: None,
    })
}

impl Completer for ReplHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let c = complete_in(&self.vocab(), line, pos);
        Ok((c.start, c.candidates))
    }
}

impl Hinter for ReplHelper {
    type Hint = ReplHint;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<ReplHint> {
        hint_for(&self.vocab(), line, pos)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        if self.color && default {
            Cow::Owned(format!("\x1b[1;36m{prompt}\x1b[0m"))
        } else {
            Cow::Borrowed(prompt)
        }
    }
}

/// Whether Enter submits `input`: not while it is incomplete, unless the
/// last two lines are empty (a way out of an unclosed construct: the error
/// then shows).
pub fn submits(session: &Session, input: &str) -> bool {
    complete::completeness(session, input) != Completeness::Incomplete || input.ends_with("\n\n")
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let ok = match self.session.try_borrow() {
            Ok(s) => submits(&s, ctx.input()),
            Err(_) => true,
        };
        Ok(if ok {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_finish_a_unique_name_or_show_the_signature() {
        let (mut s, _) = Session::collecting();
        s.eval("let my_model = mlp([2, 2]);").unwrap();
        let v = Vocabulary::of(&s);
        let h = hint_for(&v, "make_clu", 8).unwrap();
        assert_eq!(h.display(), "sters");
        assert_eq!(h.completion(), Some("sters"));
        let h = hint_for(&v, "my_m", 4).unwrap();
        assert_eq!(h.completion(), Some("odel"));
        let h = hint_for(&v, "train(my_model, ", 16).unwrap();
        assert!(
            h.display().contains("train(m: Model, data: Dataset"),
            "{}",
            h.display()
        );
        assert_eq!(h.completion(), None);
        assert!(hint_for(&v, "1 + 2", 5).is_none());
        assert!(
            hint_for(&v, "train(", 3).is_none(),
            "only at the end of the line"
        );
    }

    #[test]
    fn enter_continues_only_while_incomplete() {
        let (s, _) = Session::collecting();
        assert!(submits(&s, "1 + 2"));
        assert!(submits(&s, "foo(1 2)"));
        assert!(!submits(&s, "fn f(x) {"));
        assert!(!submits(&s, "fn f(x) {\n"));
        assert!(submits(&s, "fn f(x) {\n\n"));
    }
}
