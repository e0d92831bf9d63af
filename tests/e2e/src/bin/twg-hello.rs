//! The floor for process benchmarks: a minimal Rust program that prints one line.

fn main() {
    println!("hello");
}
