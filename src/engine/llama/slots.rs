//! Which KV-cache sequence (slot) a new prompt runs in, and how much of its prompt is already
//! there. A slot keeps the tokens of its last generation after it ends, so a chat's next turn,
//! whose prompt starts with the previous prompt and answer, only evaluates what is new: the
//! free slot holding the longest shared prefix is chosen. A new session whose system prompt an
//! idle slot holds gets that slot, so the system prompt is not evaluated again either.
//!
//! A prefix that only a busy slot holds (many sessions opening on one system prompt at once)
//! is copied into the free slot (llama.cpp's `seq_cp`), so it is evaluated once, not once per
//! slot.

use llama_cpp_2::token::LlamaToken;

/// The free slots and what their KV cache holds.
#[derive(Debug)]
pub struct Slots {
    free: Vec<FreeSlot>,
    /// Whether prefixes are reused at all (off: every prompt is evaluated whole, as benchmarks
    /// against servers without a prompt cache need).
    reuse: bool,
    /// Counts leases, to tell the least recently used slot.
    clock: u64,
}

#[derive(Debug)]
struct FreeSlot {
    id: i32,
    /// The tokens in this slot's KV cache, position by position.
    cached: Vec<LlamaToken>,
    released_at: u64,
}

/// A copy pays only when it saves evaluating at least this many tokens: llama.cpp copies a
/// slot's whole KV buffer, which costs about as much as evaluating a few tokens on a CPU.
const MIN_COPY_GAIN: usize = 32;

/// A slot taken for a prompt.
#[derive(Debug, PartialEq, Eq)]
pub struct Lease {
    pub slot: i32,
    /// The prompt's leading tokens whose KV entries stay: positions from `cached.len()` on are
    /// removed, and evaluation starts there.
    pub cached: Vec<LlamaToken>,
    /// A busy slot whose KV cache is copied into this one first (it holds `cached`).
    pub copy_from: Option<i32>,
}

/// A slot in use and the tokens its KV cache holds so far.
#[derive(Debug, Clone, Copy)]
pub struct Busy<'a> {
    pub slot: i32,
    pub cached: &'a [LlamaToken],
}

impl Slots {
    pub fn new(count: i32, reuse: bool) -> Self {
        Self {
            free: (0..count)
                .rev()
                .map(|id| FreeSlot {
                    id,
                    cached: Vec::new(),
                    released_at: 0,
                })
                .collect(),
            reuse,
            clock: 0,
        }
    }

    pub fn has_free(&self) -> bool {
        !self.free.is_empty()
    }

    /// Takes a free slot for `prompt` (call only when [`Self::has_free`]); `busy` are the slots
    /// in use, whose prefix is copied when it is much longer than any free slot's.
    pub fn lease(&mut self, prompt: &[LlamaToken], busy: &[Busy<'_>]) -> Lease {
        self.clock += 1;
        if !self.reuse {
            let slot = self.free.pop().expect("lease needs a free slot");
            return Lease {
                slot: slot.id,
                cached: Vec::new(),
                copy_from: None,
            };
        }
        let reusable = |cached: &[LlamaToken]| reusable_prefix(cached, prompt);
        // Longest reusable prefix; else an empty slot; else the least recently used.
        let best_free = self
            .free
            .iter()
            .enumerate()
            .max_by_key(|(_, slot)| {
                (
                    reusable(&slot.cached),
                    slot.cached.is_empty(),
                    u64::MAX - slot.released_at,
                )
            })
            .map(|(index, slot)| (index, reusable(&slot.cached)))
            .expect("lease needs a free slot");
        let best_busy = busy
            .iter()
            .map(|slot| (slot.slot, reusable(slot.cached)))
            .max_by_key(|(_, length)| *length)
            .filter(|(_, length)| *length >= best_free.1 + MIN_COPY_GAIN);
        let Some((source, length)) = best_busy else {
            let slot = self.free.swap_remove(best_free.0);
            let mut cached = slot.cached;
            cached.truncate(best_free.1);
            return Lease {
                slot: slot.id,
                cached,
                copy_from: None,
            };
        };
        // The copy replaces the destination's cache: an empty slot, else the least recently used.
        let evicted = self
            .free
            .iter()
            .enumerate()
            .max_by_key(|(_, slot)| (slot.cached.is_empty(), u64::MAX - slot.released_at))
            .map(|(index, _)| index)
            .expect("lease needs a free slot");
        let slot = self.free.swap_remove(evicted);
        Lease {
            slot: slot.id,
            cached: prompt[..length].to_vec(),
            copy_from: Some(source),
        }
    }

    /// Returns a slot whose KV cache now holds `cached` (empty after it was cleared).
    pub fn release(&mut self, slot: i32, cached: Vec<LlamaToken>) {
        self.free.push(FreeSlot {
            id: slot,
            cached: if self.reuse { cached } else { Vec::new() },
            released_at: self.clock,
        });
    }
}

/// How much of `cached` a prompt can keep: the shared prefix, short of the prompt's last token
/// (its logits pick the first new token), and nothing when under a tenth of the prompt (a
/// template's opening tokens are no reason to evict another conversation, as in llama-server's
/// slot similarity).
fn reusable_prefix(cached: &[LlamaToken], prompt: &[LlamaToken]) -> usize {
    let shared = cached.iter().zip(prompt).take_while(|(x, y)| x == y).count();
    let length = shared.min(prompt.len().saturating_sub(1));
    if length * 10 >= prompt.len() { length } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(range: std::ops::Range<i32>) -> Vec<LlamaToken> {
        range.map(LlamaToken::new).collect()
    }

    impl Slots {
        fn lease_free(&mut self, prompt: &[LlamaToken]) -> Lease {
            self.lease(prompt, &[])
        }
    }

    fn concat(parts: &[Vec<LlamaToken>]) -> Vec<LlamaToken> {
        parts.concat()
    }

    #[test]
    fn a_system_prompt_only_a_busy_slot_holds_is_copied_not_evaluated_again() {
        let mut slots = Slots::new(2, true);
        let system = tokens(0..300);
        let first = slots.lease_free(&concat(&[system.clone(), tokens(1000..1020)]));
        // While the first session still generates (its cache holds the system prompt, its
        // question and some answer), a second session opens on the same system prompt.
        let running = concat(&[system.clone(), tokens(1000..1020), tokens(2000..2050)]);
        let busy = [Busy {
            slot: first.slot,
            cached: &running,
        }];
        let second = slots.lease(&concat(&[system.clone(), tokens(3000..3020)]), &busy);
        assert_ne!(second.slot, first.slot);
        assert_eq!(second.copy_from, Some(first.slot));
        assert_eq!(second.cached, system);
    }

    #[test]
    fn a_free_slot_holding_nearly_as_much_is_used_rather_than_a_copy() {
        let mut slots = Slots::new(3, true);
        let a = slots.lease_free(&tokens(0..100));
        let b = slots.lease_free(&tokens(0..10));
        slots.release(b.slot, tokens(0..90));
        let running = tokens(0..110);
        let busy = [Busy {
            slot: a.slot,
            cached: &running,
        }];
        // The free slot holds 90 of the prompt's tokens, the busy one 110: not worth a copy.
        let c = slots.lease(&tokens(0..200), &busy);
        assert_eq!((c.slot, c.copy_from, c.cached.len()), (b.slot, None, 90));
        slots.release(c.slot, tokens(0..50));
        // It holds 50 now: copying 110 saves 60 evaluated tokens, into the empty third slot.
        let d = slots.lease(&tokens(0..200), &busy);
        assert_eq!((d.copy_from, d.cached.len()), (Some(a.slot), 110));
        assert!(d.slot != a.slot && d.slot != b.slot);
    }

    #[test]
    fn a_follow_up_turn_gets_the_slot_that_holds_its_history() {
        let mut slots = Slots::new(3, true);
        let first = slots.lease_free(&tokens(0..100));
        let other = slots.lease_free(&tokens(500..600));
        slots.release(first.slot, tokens(0..150));
        slots.release(other.slot, tokens(500..650));
        let follow_up = slots.lease_free(&tokens(0..200));
        assert_eq!(follow_up.slot, first.slot);
        assert_eq!(follow_up.cached, tokens(0..150));
    }

    #[test]
    fn the_last_prompt_token_is_always_evaluated() {
        let mut slots = Slots::new(1, true);
        let lease = slots.lease_free(&tokens(0..10));
        slots.release(lease.slot, tokens(0..10));
        let again = slots.lease_free(&tokens(0..10));
        assert_eq!(again.cached, tokens(0..9));
    }

    #[test]
    fn a_diverging_history_keeps_only_the_shared_part() {
        let mut slots = Slots::new(1, true);
        let lease = slots.lease_free(&tokens(0..10));
        let mut edited = tokens(0..4);
        edited.extend(tokens(40..50));
        slots.release(lease.slot, tokens(0..10));
        assert_eq!(slots.lease_free(&edited).cached, tokens(0..4));
    }

    #[test]
    fn a_new_conversation_takes_an_empty_slot_before_evicting_a_cached_one() {
        let mut slots = Slots::new(3, true);
        let a = slots.lease_free(&tokens(0..10));
        slots.release(a.slot, tokens(0..10));
        let b = slots.lease_free(&tokens(100..110));
        assert_ne!(b.slot, a.slot);
        slots.release(b.slot, tokens(100..110));
        let c = slots.lease_free(&tokens(200..210));
        assert!(c.slot != a.slot && c.slot != b.slot, "the third slot was empty");
        slots.release(c.slot, tokens(200..210));
        // No slot is empty now: the least recently released one is evicted.
        let d = slots.lease_free(&tokens(300..310));
        assert_eq!(d.slot, a.slot);
        assert!(d.cached.is_empty());
    }

    #[test]
    fn a_few_shared_opening_tokens_do_not_evict_another_conversation() {
        let mut slots = Slots::new(2, true);
        let a = slots.lease_free(&tokens(0..100));
        slots.release(a.slot, tokens(0..100));
        // Shares 3 tokens (a template's opening) with slot a: takes the empty slot.
        let mut other = tokens(0..3);
        other.extend(tokens(500..600));
        assert_ne!(slots.lease_free(&other).slot, a.slot);
    }

    #[test]
    fn without_reuse_every_prompt_starts_empty() {
        let mut slots = Slots::new(1, false);
        let lease = slots.lease_free(&tokens(0..10));
        slots.release(lease.slot, tokens(0..10));
        let again = slots.lease_free(&tokens(0..20));
        assert!(again.cached.is_empty());
    }
}
