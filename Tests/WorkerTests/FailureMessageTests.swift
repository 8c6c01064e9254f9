import Testing
@testable import Worker

@Suite("Failure reasons shown to uploaders")
struct FailureMessageTests {
    @Test func storagePathsBecomeTheUploadedFile() {
        let root = "/srv/reel"
        #expect(Worker.forViewers("/srv/reel/originals/abc/source.mp4 is not a video or audio file that Reel recognises.", root: root)
                == "the uploaded file is not a video or audio file that Reel recognises.")
        #expect(Worker.forViewers("cannot read /srv/reel/originals/abc/source.bin.", root: root) == "cannot read the uploaded file.")
        #expect(Worker.forViewers("cannot write /srv/reel/hls/abc/540p: disk full", root: root) == "cannot write hls/abc/540p: disk full")
        #expect(Worker.forViewers("nothing to hide", root: root) == "nothing to hide")
    }
}
