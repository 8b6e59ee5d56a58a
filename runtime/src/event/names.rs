//! The check every consumer of several event enums makes at compile time: no stored name
//! shared by two of them, so no event of one enum is ever handed to another's handler.
//! Generated code calls it in a constant (through `annals::__private`); a clash is a
//! compile error at the consumer.

use super::codec::VariantInfo;

/// One event enum a consumer (a projection) reads.
#[derive(Debug, Clone, Copy)]
pub struct ConsumedEnum {
    /// The enum, as the consumer names it (for the message).
    pub path: &'static str,
    /// Its variants.
    pub variants: &'static [VariantInfo],
    /// The variants read, by Rust name; empty: every variant.
    pub selected: &'static [&'static str],
}

/// Panics, at compile time when called in a constant, when two of `enums` store an event
/// under one name (a variant's name or alias): the message names the name, both variants,
/// the consumer, and the fix.
pub const fn assert_no_shared_names(consumer: &'static str, enums: &[ConsumedEnum]) {
    let mut a = 0;
    while a < enums.len() {
        let mut b = a + 1;
        while b < enums.len() {
            check_pair(consumer, &enums[a], &enums[b]);
            b += 1;
        }
        a += 1;
    }
}

const fn check_pair(consumer: &'static str, first: &ConsumedEnum, second: &ConsumedEnum) {
    let mut i = 0;
    while i < first.variants.len() {
        let left = &first.variants[i];
        let mut j = 0;
        while j < second.variants.len() {
            let right = &second.variants[j];
            if is_read(first, left) && is_read(second, right) {
                let shared = shared_name(left, right);
                if !shared.is_empty() {
                    clash(consumer, shared, first.path, left, second.path, right);
                }
            }
            j += 1;
        }
        i += 1;
    }
}

/// Whether the consumer reads `variant` of `consumed`.
const fn is_read(consumed: &ConsumedEnum, variant: &VariantInfo) -> bool {
    if consumed.selected.is_empty() {
        return true;
    }
    let mut k = 0;
    while k < consumed.selected.len() {
        if same(consumed.selected[k], variant.variant) {
            return true;
        }
        k += 1;
    }
    false
}

/// A stored name (name or alias) of both variants; empty when there is none.
const fn shared_name(left: &VariantInfo, right: &VariantInfo) -> &'static str {
    let mut i = 0;
    while i <= left.aliases.len() {
        let name = if i == 0 {
            left.name
        } else {
            left.aliases[i - 1]
        };
        let mut j = 0;
        while j <= right.aliases.len() {
            let other = if j == 0 {
                right.name
            } else {
                right.aliases[j - 1]
            };
            if same(name, other) {
                return name;
            }
            j += 1;
        }
        i += 1;
    }
    ""
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn clash(
    consumer: &str,
    name: &str,
    first: &str,
    left: &VariantInfo,
    second: &str,
    right: &VariantInfo,
) -> ! {
    let message = Message::new()
        .push("event name `")
        .push(name)
        .push("` is stored by both `")
        .push(first)
        .push("::")
        .push(left.variant)
        .push("` and `")
        .push(second)
        .push("::")
        .push(right.variant)
        .push("`, so `")
        .push(consumer)
        .push("` could not tell their events apart: give one of them a name of its own, e.g. `#[event(name = \"")
        .push(without_suffix(last_segment(second), "Event"))
        .push(right.variant)
        .push("\")]` on `")
        .push(second)
        .push("::")
        .push(right.variant)
        .push("`");
    match core::str::from_utf8(message.text()) {
        Ok(text) => panic!("{}", text),
        Err(_) => panic!("two consumed event enums store an event under the same name"),
    }
}

/// `bank::MemberEvent` → `MemberEvent`.
const fn last_segment(path: &str) -> &str {
    let bytes = path.as_bytes();
    let mut start = bytes.len();
    while start > 0 && bytes[start - 1] != b':' {
        start -= 1;
    }
    match core::str::from_utf8(bytes.split_at(start).1) {
        Ok(segment) => segment,
        Err(_) => path,
    }
}

/// `MemberEvent` → `Member`; a name without the suffix stays as it is.
const fn without_suffix<'a>(name: &'a str, suffix: &str) -> &'a str {
    let (bytes, suffix) = (name.as_bytes(), suffix.as_bytes());
    if bytes.len() <= suffix.len() {
        return name;
    }
    let (head, tail) = bytes.split_at(bytes.len() - suffix.len());
    let mut i = 0;
    while i < suffix.len() {
        if tail[i] != suffix[i] {
            return name;
        }
        i += 1;
    }
    match core::str::from_utf8(head) {
        Ok(head) => head,
        Err(_) => name,
    }
}

/// A message built at compile time, truncated at its capacity.
struct Message {
    bytes: [u8; 1024],
    len: usize,
}

impl Message {
    const fn new() -> Self {
        Message {
            bytes: [0; 1024],
            len: 0,
        }
    }

    const fn push(mut self, text: &str) -> Self {
        let text = text.as_bytes();
        let mut i = 0;
        while i < text.len() && self.len < self.bytes.len() {
            self.bytes[self.len] = text[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    const fn text(&self) -> &[u8] {
        self.bytes.split_at(self.len).0
    }
}

#[cfg(test)]
mod tests {
    use super::{ConsumedEnum, VariantInfo, shared_name};

    const fn variant(variant: &'static str, name: &'static str) -> VariantInfo {
        VariantInfo {
            variant,
            name,
            aliases: &[],
            version: 1,
        }
    }

    #[test]
    fn the_suggested_name_drops_the_path_and_the_event_suffix() {
        assert_eq!(
            super::without_suffix(super::last_segment("crate::MemberEvent"), "Event"),
            "Member"
        );
        assert_eq!(
            super::without_suffix(super::last_segment("Loans"), "Event"),
            "Loans"
        );
    }

    #[test]
    fn names_and_aliases_are_compared() {
        let returned = variant("Returned", "Returned");
        let member = VariantInfo {
            aliases: &["Returned"],
            ..variant("Returned", "MemberReturned")
        };
        assert_eq!(shared_name(&returned, &member), "Returned");
        assert_eq!(shared_name(&returned, &variant("Lent", "Lent")), "");
    }

    #[test]
    fn distinct_names_pass_and_unselected_variants_do_not_clash() {
        const BOOK: &[VariantInfo] = &[variant("Lent", "Lent"), variant("Returned", "Returned")];
        const MEMBER: &[VariantInfo] =
            &[variant("Joined", "Joined"), variant("Returned", "Returned")];
        super::assert_no_shared_names(
            "Loans",
            &[
                ConsumedEnum {
                    path: "BookEvent",
                    variants: BOOK,
                    selected: &["Lent"],
                },
                ConsumedEnum {
                    path: "MemberEvent",
                    variants: MEMBER,
                    selected: &[],
                },
            ],
        );
    }

    #[test]
    #[should_panic(
        expected = "event name `Returned` is stored by both `BookEvent::Returned` and `MemberEvent::Returned`"
    )]
    fn a_shared_name_panics_naming_both_variants() {
        const BOOK: &[VariantInfo] = &[variant("Returned", "Returned")];
        const MEMBER: &[VariantInfo] = &[variant("Returned", "Returned")];
        super::assert_no_shared_names(
            "Loans",
            &[
                ConsumedEnum {
                    path: "BookEvent",
                    variants: BOOK,
                    selected: &[],
                },
                ConsumedEnum {
                    path: "MemberEvent",
                    variants: MEMBER,
                    selected: &[],
                },
            ],
        );
    }
}
