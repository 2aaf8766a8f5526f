import Type from 'typebox'

/** Fastify's error shape, which every HTTP error of the service takes. */
export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String()
})
