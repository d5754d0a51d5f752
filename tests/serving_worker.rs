//! The worker's serving session on the real default model: requests that arrive while others
//! decode join the running batch, each gets exactly what it would alone, and a worker that dies
//! ends every request in flight with the reason.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use tradeoff_core::execute::engine::{GenerateRequest, Generation, LoadRequest, LocalEngine};
use tradeoff_core::run::{ErrorClass, FinishReason, RunError};
use tradeoff_core::spec::experiment::{ChatTemplateChoice, Sampling};
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_core::spec::target::{ContextSettings, KvType};
use tradeoff_worker::{ServedEvent, ServingWorker, WorkerEngine};

use crate::support::{default_model, model_turn, worker_command};

const SLOTS: u32 = 4;

/// The default model with `sequences` sequences of n_ctx 512, on 2 threads.
pub(crate) fn load(sequences: u32) -> LoadRequest {
    LoadRequest {
        model_path: default_model(),
        n_gpu_layers: 0,
        context: ContextSettings {
            n_ctx: 512,
            threads: 2,
            batch: 512,
            kv_type: KvType::F16,
            sequences,
            prefix_cache: false,
        },
    }
}

/// A few-shot extraction of the city and year from `sentence`, greedy.
fn request(sentence: &str, max_tokens: u32, sequences: u32) -> GenerateRequest {
    GenerateRequest {
        load: load(sequences),
        prompt: RenderedPrompt::Raw {
            prompt: format!(
                "Sentence: The first modern Olympic Games opened in Athens in 1896.\nJSON: {{\"city\": \"Athens\", \"year\": 1896}}\n\nSentence: {sentence}\nJSON:"
            ),
        },
        chat_template: ChatTemplateChoice::Auto,
        sampling: Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 0,
            max_tokens,
            stop: vec!["\n".into()],
        },
    }
}

/// Submits `request`; the receiver gets its events.
fn submit(worker: &ServingWorker, request: GenerateRequest) -> (u64, Receiver<ServedEvent>) {
    let (sender, events) = channel();
    let id = worker
        .submit(
            request,
            Box::new(move |event| {
                let _ = sender.send(event);
            }),
        )
        .unwrap();
    (id, events)
}

/// The streamed text and the end of one submission.
fn collect(events: &Receiver<ServedEvent>) -> (String, Result<Generation, RunError>) {
    let mut streamed = String::new();
    loop {
        match events.recv_timeout(Duration::from_secs(120)).unwrap() {
            ServedEvent::Text(text) => streamed.push_str(&text),
            ServedEvent::Done(result) => return (streamed, *result),
        }
    }
}

const SENTENCES: [&str; 3] = [
    "The Berlin Wall fell in 1989.",
    "Paris hosted the World Exposition of 1889.",
    "The great fire of Chicago broke out in 1871.",
];

#[test]
fn requests_that_arrive_while_others_decode_get_exactly_what_they_would_alone() {
    let _turn = model_turn();
    // Alone: one sequence, one request at a time.
    let mut engine = WorkerEngine::start(worker_command()).unwrap();
    let alone: Vec<Generation> = SENTENCES
        .iter()
        .map(|s| {
            engine
                .generate(&request(s, 24, 1), &mut |_| {}, &AtomicBool::new(false))
                .unwrap()
        })
        .collect();
    drop(engine);

    let worker = WorkerEngine::start(worker_command())
        .unwrap()
        .into_serving(&load(SLOTS))
        .unwrap();
    assert!(!worker.load_report().has_chat_template);
    // The first request is decoding when the others arrive.
    let (_, first) = submit(&worker, request(SENTENCES[0], 24, SLOTS));
    let first_piece = match first.recv_timeout(Duration::from_secs(120)).unwrap() {
        ServedEvent::Text(text) => text,
        ServedEvent::Done(result) => panic!("ended before its first text: {result:?}"),
    };
    let later: Vec<_> = SENTENCES[1..]
        .iter()
        .map(|s| submit(&worker, request(s, 24, SLOTS)).1)
        .collect();
    let (rest, result) = collect(&first);
    let mut served = vec![(format!("{first_piece}{rest}"), result.unwrap())];
    for events in &later {
        let (streamed, result) = collect(events);
        served.push((streamed, result.unwrap()));
    }
    for ((streamed, generation), alone) in served.iter().zip(&alone) {
        assert_eq!(generation.output, alone.output, "greedy output is the lone one");
        assert_eq!(streamed, &generation.output, "the stream adds up to the output");
        assert_eq!(generation.finish_reason, FinishReason::Stop);
        assert_eq!(generation.metrics.input_tokens, alone.metrics.input_tokens);
        assert_eq!(generation.metrics.output_tokens, alone.metrics.output_tokens);
        let ttft = generation.metrics.ttft_ms.unwrap();
        assert!(ttft > 0.0 && ttft <= generation.metrics.latency_ms);
        assert!(generation.metrics.logprob_mean.is_some());
    }
    assert!(served[0].1.output.contains("Berlin"), "{:?}", served[0].1.output);

    // A request whose client went away ends early, and its slot serves the next one.
    let (id, long) = submit(&worker, request(SENTENCES[1], 400, SLOTS));
    worker.cancel(id);
    let (_, cancelled) = collect(&long);
    assert!(cancelled.unwrap_err().message.contains("cancelled"));
    let (_, again) = submit(&worker, request(SENTENCES[2], 24, SLOTS));
    assert_eq!(collect(&again).1.unwrap().output, alone[2].output);
}

#[test]
fn a_worker_killed_mid_serving_ends_every_request_in_flight_with_how_it_died() {
    let _turn = model_turn();
    let worker = WorkerEngine::start(worker_command())
        .unwrap()
        .into_serving(&load(2))
        .unwrap();
    let mut long = request(SENTENCES[0], 400, 2);
    long.sampling.stop.clear();
    let in_flight: Vec<_> = (0..2).map(|_| submit(&worker, long.clone()).1).collect();
    for events in &in_flight {
        assert!(matches!(
            events.recv_timeout(Duration::from_secs(120)).unwrap(),
            ServedEvent::Text(_)
        ));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    for events in &in_flight {
        let error = collect(events).1.unwrap_err();
        assert_eq!(error.class, ErrorClass::WorkerCrashed);
        assert!(error.message.contains("SIGKILL"), "{}", error.message);
    }
    let dead = worker.dead().expect("the worker is known to be dead");
    assert_eq!(dead.class, ErrorClass::WorkerCrashed);
    let refused = worker.submit(long, Box::new(|_| {})).unwrap_err();
    assert_eq!(refused.class, ErrorClass::WorkerCrashed);
}

#[test]
fn a_worker_started_from_a_thread_that_ends_keeps_serving() {
    let _turn = model_turn();
    // A server starts its worker on a pool thread that ends later; the worker must not end with it.
    let worker = std::thread::spawn(|| {
        WorkerEngine::start(worker_command())
            .unwrap()
            .into_serving(&load(2))
            .unwrap()
    })
    .join()
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(worker.dead().is_none(), "{:?}", worker.dead());
    let (_, events) = submit(&worker, request(SENTENCES[0], 24, 2));
    let generation = collect(&events).1.unwrap();
    assert!(generation.output.contains("Berlin"), "{}", generation.output);
}
