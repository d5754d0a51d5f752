//! Token → text for one generated sequence: UTF-8 that may be split across tokens, and stop
//! sequences that may be split across tokens too.

use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::vocab::LlamaVocab;
use tradeoff_core::execute::stop::{Fed, StopMatcher};

pub(crate) struct TextAssembler {
    decoder: encoding_rs::Decoder,
    stops: StopMatcher,
    output: String,
    piece: Vec<u8>,
    piece_text: String,
}

impl TextAssembler {
    pub(crate) fn new(stop: &[String]) -> Self {
        TextAssembler {
            decoder: encoding_rs::UTF_8.new_decoder(),
            stops: StopMatcher::new(stop),
            output: String::new(),
            piece: Vec::with_capacity(16),
            piece_text: String::new(),
        }
    }

    /// Adds one generated token. `emit` is the text released by it (never part of a stop
    /// sequence; already appended to the output); `stopped` when a stop sequence completed.
    pub(crate) fn push(&mut self, vocab: &LlamaVocab<'_>, token: LlamaToken) -> Fed {
        self.piece.clear();
        vocab.token_to_piece_into(token, &mut self.piece, false, None);
        self.piece_text.clear();
        if let Some(max) = self.decoder.max_utf8_buffer_length(self.piece.len()) {
            self.piece_text.reserve(max);
        }
        // Bytes of a character split across tokens stay in the decoder until it completes.
        let _ = self
            .decoder
            .decode_to_string(&self.piece, &mut self.piece_text, false);
        let fed = self.stops.feed(&self.piece_text);
        self.output.push_str(&fed.emit);
        fed
    }

    /// Generation ended for another reason than a stop sequence: text held back as a possible
    /// stop-sequence start belongs to the output. Returns it (already appended).
    pub(crate) fn finish(&mut self) -> String {
        let rest = self.stops.finish();
        self.output.push_str(&rest);
        rest
    }

    pub(crate) fn into_output(self) -> String {
        self.output
    }
}
