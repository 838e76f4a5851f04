package s3

// Sizes the tests build their cases around.
const (
	PartSize      = partSize
	PartsInFlight = partsInFlight
	MinPartSize   = minPartSize
)

var BufsForPart = bufsForPart
