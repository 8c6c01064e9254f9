import Testing
@testable import Media

@Suite("libx264 threads per rung encoder")
struct EncoderThreadsTests {
    @Test("the ladder shares 1.5 × cores frame threads between its encoders, at least two each")
    func threadsShareTheCores() {
        #expect(VideoRungEncoder.threads(encoders: 3, cores: 2) == 2)   // x264 alone: 3 each, 9 in all
        #expect(VideoRungEncoder.threads(encoders: 5, cores: 2) == 2)
        #expect(VideoRungEncoder.threads(encoders: 1, cores: 2) == 3)   // one rung: what x264 would take
        #expect(VideoRungEncoder.threads(encoders: 5, cores: 8) == 3)
        #expect(VideoRungEncoder.threads(encoders: 2, cores: 16) == 12)
        #expect(VideoRungEncoder.threads(encoders: 0, cores: 0) == 2)
    }
}
