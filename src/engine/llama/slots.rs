//! Which KV-cache sequence (slot) a new prompt runs in, and how much of its prompt is already
//! there. A slot keeps the tokens of its last generation after it ends, so a chat's next turn,
//! whose prompt starts with the previous prompt and answer, only evaluates what is new: the
//! free slot holding the longest shared prefix is chosen. A new session whose system prompt an
//! idle slot holds gets that slot, so the system prompt is not evaluated again either.
//!
//! A prefix is reused only in the slot that computed it: copying one from a busy slot into
//! another (llama.cpp's `seq_cp` across slots) is not done yet.

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

/// A slot taken for a prompt.
#[derive(Debug, PartialEq, Eq)]
pub struct Lease {
    pub slot: i32,
    /// The prompt's leading tokens whose KV entries stay: positions from `cached.len()` on are
    /// removed, and evaluation starts there.
    pub cached: Vec<LlamaToken>,
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

    /// Takes a free slot for `prompt` (call only when [`Self::has_free`]).
    pub fn lease(&mut self, prompt: &[LlamaToken]) -> Lease {
        self.clock += 1;
        // At least the prompt's last token is evaluated: its logits pick the first new token.
        let usable =
            |cached: &[LlamaToken]| shared_prefix(cached, prompt).min(prompt.len().saturating_sub(1));
        // A prefix under a tenth of the prompt (the template's opening, say) is no reason to
        // evict another conversation's cache, as llama-server's slot similarity has it.
        let worth = |length: usize| if length * 10 >= prompt.len() { length } else { 0 };
        let chosen = if self.reuse {
            self.free
                .iter()
                .enumerate()
                // Longest reusable prefix; else an empty slot; else the least recently used.
                .max_by_key(|(_, slot)| {
                    let length = worth(usable(&slot.cached));
                    (length, slot.cached.is_empty(), u64::MAX - slot.released_at)
                })
                .map(|(index, _)| index)
        } else {
            self.free.len().checked_sub(1)
        };
        let slot = self.free.swap_remove(chosen.expect("lease needs a free slot"));
        let mut cached = slot.cached;
        cached.truncate(if self.reuse { usable(&cached) } else { 0 });
        Lease {
            slot: slot.id,
            cached,
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

fn shared_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(range: std::ops::Range<i32>) -> Vec<LlamaToken> {
        range.map(LlamaToken::new).collect()
    }

    #[test]
    fn a_follow_up_turn_gets_the_slot_that_holds_its_history() {
        let mut slots = Slots::new(3, true);
        let first = slots.lease(&tokens(0..100));
        let other = slots.lease(&tokens(500..600));
        slots.release(first.slot, tokens(0..150));
        slots.release(other.slot, tokens(500..650));
        let follow_up = slots.lease(&tokens(0..200));
        assert_eq!(follow_up.slot, first.slot);
        assert_eq!(follow_up.cached, tokens(0..150));
    }

    #[test]
    fn the_last_prompt_token_is_always_evaluated() {
        let mut slots = Slots::new(1, true);
        let lease = slots.lease(&tokens(0..10));
        slots.release(lease.slot, tokens(0..10));
        let again = slots.lease(&tokens(0..10));
        assert_eq!(again.cached, tokens(0..9));
    }

    #[test]
    fn a_diverging_history_keeps_only_the_shared_part() {
        let mut slots = Slots::new(1, true);
        let lease = slots.lease(&tokens(0..10));
        let mut edited = tokens(0..4);
        edited.extend(tokens(40..50));
        slots.release(lease.slot, tokens(0..10));
        assert_eq!(slots.lease(&edited).cached, tokens(0..4));
    }

    #[test]
    fn a_new_conversation_takes_an_empty_slot_before_evicting_a_cached_one() {
        let mut slots = Slots::new(3, true);
        let a = slots.lease(&tokens(0..10));
        slots.release(a.slot, tokens(0..10));
        let b = slots.lease(&tokens(100..110));
        assert_ne!(b.slot, a.slot);
        slots.release(b.slot, tokens(100..110));
        let c = slots.lease(&tokens(200..210));
        assert!(c.slot != a.slot && c.slot != b.slot, "the third slot was empty");
        slots.release(c.slot, tokens(200..210));
        // No slot is empty now: the least recently released one is evicted.
        let d = slots.lease(&tokens(300..310));
        assert_eq!(d.slot, a.slot);
        assert!(d.cached.is_empty());
    }

    #[test]
    fn a_few_shared_opening_tokens_do_not_evict_another_conversation() {
        let mut slots = Slots::new(2, true);
        let a = slots.lease(&tokens(0..100));
        slots.release(a.slot, tokens(0..100));
        // Shares 3 tokens (a template's opening) with slot a: takes the empty slot.
        let mut other = tokens(0..3);
        other.extend(tokens(500..600));
        assert_ne!(slots.lease(&other).slot, a.slot);
    }

    #[test]
    fn without_reuse_every_prompt_starts_empty() {
        let mut slots = Slots::new(1, false);
        let lease = slots.lease(&tokens(0..10));
        slots.release(lease.slot, tokens(0..10));
        let again = slots.lease(&tokens(0..20));
        assert!(again.cached.is_empty());
    }
}
