package devstack

import "mime"

// mimeDecoder decodes RFC 2047 encoded headers such as a Spanish subject.
type mimeDecoder = mime.WordDecoder
