// What the README's TensorFlow.js block leaves to the reader: a layers model and its training data.
declare const model: import('@tensorflow/tfjs').LayersModel;
declare const xs: import('@tensorflow/tfjs').Tensor;
declare const ys: import('@tensorflow/tfjs').Tensor;
